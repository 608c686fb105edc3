"""The read side: DuckDB views over a log or dataset, its columnar caches, frames and metrics.

``engine`` (connections, quoting) · ``source`` (the log a ``src`` names) · ``views``
(events, typed, projection and replay views) · ``replay`` (the entity SQL) · ``chunks``
(the Parquet chunk store) · ``cache`` (a log's columnar cache) · ``datasets`` (Parquet
datasets) · ``readers`` (``connect_duckdb``, ``sql``, the shared readers) · ``arrow``
(results as pandas) · ``frames`` · ``metrics`` · ``stats`` · ``describe`` (the view listing).

Never writes a log: it opens logs through :mod:`eventkit.log.files` only and never
imports the store, projections or migrations.
"""
