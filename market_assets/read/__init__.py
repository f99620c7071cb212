"""Reading bars: `get_ohlcv` answers from Redis, the database or S3 and says which.

`reader` is the chain over the three stores, `adjusted` applies corporate actions on read,
`api` holds the process-wide entry points re-exported here.
"""

from market_assets.read.api import get_ohlcv, read_stats
from market_assets.read.reader import ReadUnavailableError

__all__ = ["ReadUnavailableError", "get_ohlcv", "read_stats"]
