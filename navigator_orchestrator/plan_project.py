"""`planwise init DIR`: a plan project an analyst team can put under git at once, tested by the planwise plugin.

The project is the template in plan_template/ (planwise.yaml, which marks it and lists its layout; tests/;
pytest.ini; .gitignore; a GitHub Actions workflow) plus the package's own default config, two example scenarios,
.env.example and constraints.txt, a census/ README written from the census format, an empty baselines/, and with
`--with-dbt` a copy of the dbt project. How a project's files are then found: inputs/paths.py.

Everything is checked before anything is written, and the project is assembled in a hidden folder beside DIR and
renamed into place: a refused or failed init leaves nothing behind, and nothing that exists is ever overwritten.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .dbt_layer.dbt_runner import project_files
from .errors import InputError
from .inputs import paths
from .inputs.census import COLUMNS, REQUIRED, CensusReport, StagedCensus, stage_census
from .inputs.config import load_config

TEMPLATE = Path(__file__).resolve().parent / "plan_template"
EXAMPLE_SCENARIOS = ("default.yaml", "rich_match.yaml")
CONSTRAINTS_HEADER = """\
# The versions PlanWise Navigator's own tests passed with. Install with them (pip install -c constraints.txt ...)
# so that results, and the baselines that hold them, do not move with an upgrade of dbt, DuckDB or another package.
"""


@dataclass(frozen=True)
class InitResult:
    """What `init_project` made: the project folder, its files (relative, sorted) and the census it checked."""

    project: Path
    files: list[str]
    census: CensusReport | None


def init_project(directory: Path | str, census: Path | str | None = None, with_dbt: bool = False,
                 census_sheet: str | None = None, census_map: Path | str | None = None) -> InitResult:
    """Create a plan project in `directory` (new, or an empty folder); `census` is checked like a run's census
    and copied to census/ (an .xlsx, or a file read through `census_map`, is written there as the .parquet of its
    staged rows, the PlanWise format a run reads without a map), `with_dbt` copies the dbt project to dbt/. Raises
    InputError, having written nothing."""
    given = Path(directory)
    target = given.expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise InputError(f"{given} exists and is not a folder", "give planwise init a new or empty folder")
    if target.is_dir() and any(target.iterdir()):
        raise InputError(f"{given} already exists and is not empty",
                         "give planwise init a new or empty folder: it never overwrites files")
    if not target.parent.is_dir():
        raise InputError(f"{given}: folder {target.parent} does not exist", "create it first")
    staged = _checked_census(Path(census), census_sheet, census_map) if census is not None else None
    work = target.parent / f".{target.name}.planwise-init-{os.getpid()}"
    try:
        _assemble(work, Path(census) if census is not None else None, with_dbt, staged)
        os.replace(work, target)  # onto nothing, or onto the empty folder
    except BaseException as error:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(error, OSError):
            raise InputError(f"cannot create {given}: {error.strerror or error}",
                             "give planwise init a new or empty folder you can write to") from None
        raise
    finally:
        if staged is not None:
            staged.close()
    files = sorted(path.relative_to(target).as_posix() for path in target.rglob("*") if path.is_file())
    return InitResult(target, files, staged.report if staged is not None else None)


def _checked_census(census: Path, sheet: str | None, census_map: Path | str | None) -> StagedCensus:
    """The census staged as a run of the default config would stage it: a file a run would refuse is refused."""
    config = load_config(paths.SHIPPED_CONFIG)
    return stage_census(census, date(config.start_year - 1, 12, 31), sheet, Path(census_map) if census_map else None)


def _assemble(work: Path, census: Path | None, with_dbt: bool, staged: StagedCensus | None) -> None:
    shutil.copytree(TEMPLATE, work, ignore=shutil.ignore_patterns("__pycache__"))
    _copy(paths.SHIPPED_CONFIG, work / "config" / "simulation_config.yaml")
    for name in EXAMPLE_SCENARIOS:
        _copy(paths.SHIPPED_SCENARIOS / name, work / "scenarios" / name)
    (work / "census").mkdir()
    (work / "census" / "README.md").write_text(census_readme(), encoding="utf-8")
    if staged is not None and (staged.report.sheet or staged.report.census_map):
        staged.export(work / "census" / f"{census.stem}.parquet")
    elif census is not None:
        _copy(census, work / "census" / census.name)
    (work / "baselines").mkdir()
    (work / ".env.example").write_text(_env_example(), encoding="utf-8")
    pins = [line for line in (paths.SHIPPED / "constraints.txt").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    (work / "constraints.txt").write_text(CONSTRAINTS_HEADER + "\n".join(pins) + "\n", encoding="utf-8")
    if with_dbt:
        for source in project_files(paths.SHIPPED_DBT):
            _copy(source, work / "dbt" / source.relative_to(paths.SHIPPED_DBT))


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _env_example() -> str:
    """The package's .env.example, with the database where a plan project keeps it."""
    text = (paths.SHIPPED / ".env.example").read_text(encoding="utf-8")
    return text.replace("dbt/simulation.duckdb", "simulation.duckdb")


def census_readme() -> str:
    """census/README.md: what to put there, with the column list of the census format itself."""
    rows = "\n".join(f"| `{name}` | {kind} | {'yes' if name in REQUIRED else 'no'} |" for name, kind in COLUMNS)
    return f"""# Census

Put the plan's census here, one `.parquet` or `.csv` file: in this project `planwise run` and the tests use it by
default (`planwise run --census FILE` uses another file for one run; with several files here a run asks which).
Without one, runs use a generated {paths.DEFAULT_CENSUS_EMPLOYEES:,}-person census (`data/census_default.parquet`,
made on first use, git-ignored). `planwise init DIR --census FILE` checks a file as a run would and puts it in the
new project's census/.

The census is as of December 31 of the year before `simulation.start_year`: one row per employee, with a header
row. Columns are matched by name (case and surrounding spaces ignored); other columns are ignored and reported.

| column | type | required |
|---|---|---|
{rows}

A run stages the file before it touches the database, and says what it left out, with a few ids per reason: rows
with a missing or malformed required value, pay not above 0, a hire date after the census date, a termination
date before the hire date or after the census date, or a deferral rate outside 0..1. Of several rows with the same
`employee_id`, the one with the latest hire date (then the highest pay) is kept. A row with a termination date,
or `active` false, is not in the starting workforce; a blank deferral rate means 0. A census with nobody active
left is refused.

The file holds personal data (SSNs, birth dates, pay): commit it only to a repository whose access is as
restricted as the data's.
"""
