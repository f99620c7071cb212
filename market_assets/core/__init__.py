"""Pure domain rules: bar schema, timeframes, identifiers, calendars, universe, adjustments,
row rules, contracts, partition keys, run planning, key layout, names, settings, quality
configuration. Nothing here imports Dagster, a store client, `resources` or another project
package (import-linter enforces it), so every layer above can use it.
"""
