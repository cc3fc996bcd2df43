"""Ensembles: many seeded runs of many scenarios: the driver, executors (local or Dask), bands and charts.

May import `errors`, `safety`, `inputs`, `dbt_layer` and `run`; executors take a callable and import no driver.
"""
