"""The public Python API: what the `planwise` CLI and the pytest plugin call, and what a notebook or a script may.

Each function takes a request and returns a result; bad input raises `InputError` (exit code 2 at the CLI) and a
database in use `LockError` (75) before anything is touched; other failures of a run are in its result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .inputs.config import SimulationConfig, load_config
from .inputs.memory import DEFAULT_MEMORY_LIMIT, parse_memory_limit
from .inputs.paths import DBT_DIR, resolve_db_path
from .run.pipeline import RunRequest, new_run_id, simulate
from .run.quality import Verdict
from .run.summary import RunResult

Echo = Callable[[str], None]


def run_request(*, years: tuple[int, int] | None = None, seed: int | None = None, config: Path | str | None = None,
                overrides: dict[str, Any] | None = None, census: Path | str | None = None,
                census_sheet: str | None = None, census_map: Path | str | None = None,
                db: Path | str | None = None, threads: int = 2, backup: bool = True, resume: bool = False,
                dbt_project: Path | str | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> RunRequest:
    """A validated RunRequest as `planwise run` builds it: `years` and `seed` override the config's, `db` defaults
    to $DB_PATH then the default database, `census` to a plan project's own, else the bundled one (inputs/paths.py),
    read from its `census_sheet` (.xlsx) through `census_map` (inputs/census_map.py) when given;
    `memory_limit` caps DuckDB for the run (inputs/memory.py)."""
    values = dict(overrides or {})
    if years is not None:
        values.update({"simulation.start_year": years[0], "simulation.end_year": years[1]})
    if seed is not None:
        values["simulation.random_seed"] = seed
    return RunRequest(config=load_config(Path(config) if config else None, values),
                      db_path=resolve_db_path(str(db) if db else None),
                      census_path=Path(census).resolve() if census else None, census_sheet=census_sheet,
                      census_map=Path(census_map).resolve() if census_map else None, threads=threads, backup=backup,
                      resume=resume, dbt_project=Path(dbt_project).resolve() if dbt_project else DBT_DIR,
                      memory_limit=parse_memory_limit(memory_limit))


def latest_summary(db: Path | str) -> dict | None:
    """The summary.json of the newest run on a database (`artifacts/runs/<run_id>/` beside it; run ids sort by
    start time), as a dict; None when no run has started there."""
    import json

    summaries = sorted((Path(db).parent / "artifacts" / "runs").glob("*/summary.json"))
    return json.loads(summaries[-1].read_text(encoding="utf-8")) if summaries else None


@dataclass(frozen=True)
class CheckReport:
    """`planwise check`'s outcome: its id (the run_id of its dq_results rows) and the verdict on every year."""

    check_id: str
    verdict: Verdict


def check(db: Path | str | None = None, config: SimulationConfig | None = None,
          years: tuple[int, int] | None = None, record: bool = True, echo: Echo = print) -> CheckReport:
    """The quality gates on every (or the given) simulated year of an existing database, under its lock, recorded
    in dq_results when `record`; a damaged file raises the same restore fix as a run, and nothing is written."""
    import duckdb

    from .errors import InputError
    from .run.quality import check_database
    from .safety.locking import database_failure, run_lock

    db_path = resolve_db_path(str(db) if db else None)
    if not db_path.is_file():
        raise InputError(f"no database at {db_path}", "point --db (or DB_PATH) at a database a run has built")
    check_id = new_run_id()
    with run_lock(db_path, check_id, "planwise check", echo):
        try:
            verdict = check_database(db_path, check_id, config or load_config(None), years, record)
        except duckdb.Error as error:
            raise database_failure(error, db_path) from None
    return CheckReport(check_id, verdict)


def generate_census(employees: int, seed: int, out: Path | str) -> Path:
    """A deterministic synthetic census of `employees` people (.parquet or .csv by the suffix)."""
    from .errors import InputError
    from .inputs.census import generate_census as generate

    out = Path(out)
    if not out.parent.resolve().is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist", "create it first")
    return generate(employees, seed, out)


def run_ensemble(request: Any, echo: Echo = print, progress: Any = None) -> int:
    """Every scenario x seed run of an `EnsembleRequest`, its bands, paired differences and charts under its
    `out`; the exit code `planwise ensemble` ends with (0 when every run succeeded). Every line passes through
    `masking.mask`, as a run's do; `progress` (run.progress.Status) is told the runs done."""
    from .ensembles.ensemble import prepare, run_ensemble as execute
    from .run.progress import PLAIN
    from .safety.masking import mask

    def say(line: str) -> None:
        echo(mask(line))

    return execute(prepare(request, say), say, progress or PLAIN)


__all__ = ["RunRequest", "RunResult", "run_request", "simulate", "latest_summary", "CheckReport", "check", "SimulationConfig",
           "load_config", "generate_census", "run_ensemble"]
