"""Where things live: the checkout's folders and the one resolved database path every component uses."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = PROJECT_ROOT / "dbt"
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "simulation_config.yaml"
DEFAULT_DB = DBT_DIR / "simulation.duckdb"
DEFAULT_CENSUS = PROJECT_ROOT / "data" / "census_default.parquet"
DEFAULT_CENSUS_EMPLOYEES = 5000
DEFAULT_CENSUS_SEED = 42


def resolve_db_path(cli_value: str | None) -> Path:
    """`--db` beats `DB_PATH` (environment or .env) beats `dbt/simulation.duckdb`; always absolute."""
    raw = cli_value or os.environ.get("DB_PATH") or str(DEFAULT_DB)
    return Path(raw).expanduser().resolve()
