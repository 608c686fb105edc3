"""The read side: the DuckDB engine, typed views, the columnar cache, datasets, frames, metrics.

Never writes a log: it opens logs through :mod:`eventkit.log.files` only and never
imports the store, projections or migrations.
"""
