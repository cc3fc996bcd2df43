"""Where things live: the files a run reads and the one resolved database path every component uses.

The shipped files (the dbt project, the default config, the example scenarios, .env.example, constraints.txt) are
the checkout's own folders when the package runs from a checkout or an editable install, and the copies a built
package carries in `navigator_orchestrator/bundled/` (setup.py's build step) when it is installed; those copies
are only read, never written.

Then, found once at import from the working directory: the nearest folder, the working directory or a parent,
that holds `planwise.yaml` is a plan project (`planwise init`), and its files win:

    config/simulation_config.yaml        the default config
    census/*.parquet or *.csv            the default census: the one file there (none: data/census_default.parquet,
                                         generated on first use; several: a run asks for --census)
    dbt/ (with dbt_project.yml)          the dbt project, when `planwise init --with-dbt` copied it (else shipped)
    simulation.duckdb                    the default database (logs, artifacts, backups, checkpoints beside it)
    baselines/                           the pytest plugin's baselines (pytest's rootdir there)

Outside a plan project a checkout keeps its layout (dbt/simulation.duckdb, data/census_default.parquet); an
installed package uses the working directory as a plan project without files of its own.
"""

import os
from pathlib import Path

from ..errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_ROOT = PACKAGE_DIR.parent  # the checkout (installed: the folder holding the package, where nothing is read)
BUNDLED = PACKAGE_DIR / "bundled"  # exists only in a built package
SHIPPED = BUNDLED if BUNDLED.is_dir() else PROJECT_ROOT
SHIPPED_DBT = SHIPPED / "dbt"
SHIPPED_CONFIG = SHIPPED / "config" / "simulation_config.yaml"
SHIPPED_SCENARIOS = SHIPPED / "scenarios"
PLAN_MARKER = "planwise.yaml"
CENSUS_SUFFIXES = (".parquet", ".csv")
DEFAULT_CENSUS_EMPLOYEES = 5000
DEFAULT_CENSUS_SEED = 42


def find_plan_project(start: Path) -> Path | None:
    """The nearest folder from `start` up that holds `planwise.yaml`, or None."""
    for folder in (start, *start.parents):
        if (folder / PLAN_MARKER).is_file():
            return folder
    return None


def plan_census(project: Path) -> Path | None:
    """The census a plan project keeps: the one .parquet or .csv file in its census/ (`planwise init --census`
    copies it there), or None; several are refused, since which one a run should use is for the team to say."""
    folder = project / "census"
    found = sorted(path for path in folder.glob("*") if path.suffix.lower() in CENSUS_SUFFIXES and path.is_file())
    if len(found) > 1:
        raise InputError(f"{folder} holds {len(found)} census files ({', '.join(path.name for path in found)})",
                         "keep the project's census there alone, or name one with --census")
    return found[0] if found else None


def project_census() -> Path | None:
    """The working directory's plan project's census (`plan_census`); None outside a plan project."""
    return plan_census(PLAN_PROJECT) if PLAN_PROJECT else None


def _working_directory() -> Path | None:
    try:
        return Path.cwd()
    except OSError:  # a working directory deleted under the process: no plan project
        return None


_cwd = _working_directory()
PLAN_PROJECT = find_plan_project(_cwd) if _cwd else None
if PLAN_PROJECT is not None:
    DBT_DIR = PLAN_PROJECT / "dbt" if (PLAN_PROJECT / "dbt" / "dbt_project.yml").is_file() else SHIPPED_DBT
    DEFAULT_CONFIG = PLAN_PROJECT / "config" / "simulation_config.yaml"
    DEFAULT_DB = PLAN_PROJECT / "simulation.duckdb"
    DEFAULT_CENSUS = PLAN_PROJECT / "data" / "census_default.parquet"
elif not BUNDLED.is_dir():  # a checkout: its own folders
    DBT_DIR = SHIPPED_DBT
    DEFAULT_CONFIG = SHIPPED_CONFIG
    DEFAULT_DB = DBT_DIR / "simulation.duckdb"
    DEFAULT_CENSUS = PROJECT_ROOT / "data" / "census_default.parquet"
else:  # installed, outside a plan project: the shipped files, and what a run writes in the working directory
    DBT_DIR = SHIPPED_DBT
    DEFAULT_CONFIG = SHIPPED_CONFIG
    DEFAULT_DB = (_cwd or Path.home()) / "simulation.duckdb"
    DEFAULT_CENSUS = (_cwd or Path.home()) / "data" / "census_default.parquet"


def is_shipped(project_dir: Path) -> bool:
    """Whether a dbt project is the installed package's own copy (read, never written: dbt's caches go elsewhere)."""
    return BUNDLED.is_dir() and BUNDLED in Path(project_dir).resolve().parents


def resolve_db_path(cli_value: str | None) -> Path:
    """`--db` beats `DB_PATH` (environment or .env) beats the default database above; always absolute."""
    raw = cli_value or os.environ.get("DB_PATH") or str(DEFAULT_DB)
    return Path(raw).expanduser().resolve()
