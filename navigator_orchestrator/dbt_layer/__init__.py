"""The dbt layer: dbt driven through dbtRunner, the held-open DuckDB connection, bulk inserts, guarded speed-ups.

May import `errors`, `safety` and `inputs`; knows nothing of years, checkpoints or quality.
"""
