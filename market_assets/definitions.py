"""The code location: the domains' definitions merged, with the resources and the executor.

Resources come from market_assets/composition.py (the one environment-to-resource mapping);
they read secrets through EnvVar at run time, so loading these definitions opens no connection
and needs no secret (`dg check defs` works on a clean checkout).

Runs use the in-process executor: a batched run carries hundreds of partitions through four
assets whose work is vectorised IO, so a subprocess per step would only add start-up time.
"""

from dagster import Definitions, in_process_executor

from market_assets.composition import definitions_resources
from market_assets.defs.masters import definitions as masters
from market_assets.defs.ohlcv import definitions as ohlcv
from market_assets.defs.ops import definitions as ops

# The domains' modules, not their objects: Dagster loads the one Definitions at module scope.
defs = Definitions.merge(
    ohlcv.defs,
    masters.defs,
    ops.defs,
    Definitions(resources=definitions_resources(), executor=in_process_executor),
)
