"""The write side: log files, migrations, the EventStore, projections, backup, merge.

Built on the catalog with the standard library's sqlite3; never imports DuckDB or pandas.
"""
