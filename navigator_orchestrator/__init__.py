"""PlanWise Navigator: the orchestrator that runs the multi-year workforce simulation (dbt on DuckDB)."""

__version__ = "0.1.0"
