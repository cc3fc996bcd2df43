"""The year loop: validate everything, lock and back up the database, load the census, then one dbt invocation
per simulated year.

Nothing is written until the required environment, the config, the years and the census have all passed their
checks, so bad input never changes an existing database. Then the run takes the database's lock (held until
its summary is written) and backs the database up before its first write. Once the run has started, its
summary is written whatever happens; every line and the summary pass through `masking.mask`.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb

from . import __version__
from .backup import create_backup
from .census import StagedCensus, generate_census, stage_census
from .config import SimulationConfig
from .dbt_runner import DbtRunner
from .errors import InputError, PlanwiseError, SimulationError
from .locking import duckdb_lock_error, run_lock
from .masking import mask, mask_data
from .metrics import year_metrics
from .paths import DEFAULT_CENSUS, DEFAULT_CENSUS_EMPLOYEES, DEFAULT_CENSUS_SEED
from .years import check_years_supported, projected_years

Echo = Callable[[str], None]


@dataclass
class RunRequest:
    """Everything one run needs, already resolved (absolute paths, validated config)."""

    config: SimulationConfig
    db_path: Path
    census_path: Path | None = None
    threads: int = 2
    backup: bool = True  # False: `--no-backup`, recorded in the summary


@dataclass
class YearOutcome:
    year: int
    seconds: float
    metrics: dict


@dataclass
class RunResult:
    """What a run did; `to_dict()` is the summary.json written for every started run."""

    run_id: str
    status: str
    db_path: str
    started_at: str
    start_year: int
    end_year: int
    seed: int
    config_digest: str
    census: dict = field(default_factory=dict)
    backup: dict = field(default_factory=dict)
    years: list[YearOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dbt_invocations: list[str] = field(default_factory=list)
    ended_at: str = ""
    duration_seconds: float = 0.0
    summary_path: str = ""
    exit_code: int = 0
    projected_irs_years: list[int] = field(default_factory=list)  # years simulated on projected IRS limits

    def to_dict(self) -> dict:
        return asdict(self)


def new_run_id(now: datetime | None = None) -> str:
    """YYYYMMDD_HHMMSS-xxxxxxxx: sortable by start time, unique across concurrent runs."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d_%H%M%S}-{os.urandom(4).hex()}"


def resolve_census(path: Path | None, echo: Echo) -> Path:
    """The given census, or the bundled default, generated on first use (never committed)."""
    if path is not None:
        return path
    if not DEFAULT_CENSUS.exists():
        echo(f"generating the default census ({DEFAULT_CENSUS_EMPLOYEES:,} people, seed {DEFAULT_CENSUS_SEED}) "
             f"at {DEFAULT_CENSUS}")
        DEFAULT_CENSUS.parent.mkdir(parents=True, exist_ok=True)
        generate_census(DEFAULT_CENSUS_EMPLOYEES, DEFAULT_CENSUS_SEED, DEFAULT_CENSUS)
    return DEFAULT_CENSUS


def simulate(request: RunRequest, echo: Echo = print) -> RunResult:
    """Run every year of the config; raise InputError for bad input and LockError for a database in use, both
    before touching anything."""
    echo = _masked(echo)
    config = request.config
    _require_environment(config)
    check_years_supported(config.start_year, config.end_year)
    if not request.db_path.parent.is_dir():
        raise InputError(f"--db {request.db_path}: folder {request.db_path.parent} does not exist",
                         "create the folder or point --db at an existing one")
    census_path = resolve_census(request.census_path, echo)
    staged = stage_census(census_path, date(config.start_year - 1, 12, 31))
    for line in staged.report.summary_lines():
        echo(line)
    run_id = new_run_id()
    with staged, run_lock(request.db_path, run_id, "planwise run", echo):
        return _locked_run(request, staged, run_id, echo)


def _require_environment(config: SimulationConfig) -> None:
    """Every variable of `environment.required` is set and not empty (from the environment or .env)."""
    missing = [name for name in config.get("environment.required") if not os.environ.get(name)]
    if missing:
        names = ", ".join(missing)
        raise InputError(f"missing required environment variable{'s' if len(missing) > 1 else ''} {names} "
                         f"(environment.required in {config.source})",
                         f"set {names} in the environment or in .env (see .env.example), then run again")


def _locked_run(request: RunRequest, staged: StagedCensus, run_id: str, echo: Echo) -> RunResult:
    """The run proper, under the database's lock: backup, census, years; the summary always."""
    config = request.config
    started = time.monotonic()
    result = RunResult(
        run_id=run_id, status="running", db_path=str(request.db_path),
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        start_year=config.start_year, end_year=config.end_year, seed=config.seed,
        config_digest=config.digest(), census=staged.report.to_dict(),
        projected_irs_years=projected_years(config.start_year, config.end_year),
    )
    if result.projected_irs_years:
        echo(projected_limits_line(result.projected_irs_years))
    run_dir = request.db_path.parent / "artifacts" / "runs" / result.run_id
    runner = DbtRunner(db_path=request.db_path, work_dir=run_dir / "dbt", threads=request.threads)
    written = False  # whether this run changed the database (only then does it get a run_metadata row)
    try:
        result.backup = _backup_before_writing(request, run_id, echo)
        staged.write_to(request.db_path)  # one statement: on failure the file is as it was
        written = True
        _run_years(runner, config, request.db_path, result, echo)
        result.status = "success"
    except (PlanwiseError, duckdb.Error) as error:
        failure = _as_planwise_error(error, request.db_path)
        result.status, result.exit_code = "failed", failure.exit_code
        result.errors.append(mask(str(failure)))
    except KeyboardInterrupt:
        result.status, result.exit_code = "interrupted", 130
        result.errors.append("interrupted by the user (Ctrl-C); rerun the same command to rebuild the years")
    finally:
        result.dbt_invocations = list(runner.invocations)
        result.ended_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result.duration_seconds = round(time.monotonic() - started, 3)
        _record(result, run_dir, request.db_path if written else None)
    return result


def _backup_before_writing(request: RunRequest, run_id: str, echo: Echo) -> dict:
    """The pre-run backup, or why there is none; a failed backup stops the run before its first write."""
    if not request.backup:
        echo("backup: skipped (--no-backup)")
        return {"status": "skipped", "reason": "--no-backup"}
    if not request.db_path.exists():
        return {"status": "skipped", "reason": "no database yet (first run)"}
    began = time.monotonic()
    try:
        backup = create_backup(request.db_path, run_id, request.config.get("backup.keep"))
    except PlanwiseError as error:
        raise type(error)(f"pre-run backup failed, the run did not start: {error.message}", error.hint) from None
    seconds = round(time.monotonic() - began, 3)
    echo(f"backup: {backup.path} ({backup.manifest['size'] / 1e6:,.1f} MB, verified, {seconds:.1f}s)")
    return {"status": "created", "path": str(backup.path), "size": backup.manifest["size"],
            "sha256": backup.sha256, "seconds": seconds}


def _as_planwise_error(error: Exception, db_path: Path) -> PlanwiseError:
    """DuckDB's lock error, wherever it surfaced (our connection or dbt's), becomes a LockError."""
    locked = duckdb_lock_error(error, db_path)
    if locked is not None:
        return locked
    if isinstance(error, PlanwiseError):
        return error
    return SimulationError(f"database error: {' '.join(str(error).split())[:500]}",
                           f"if the database is damaged, restore a backup: `planwise backup restore --db {db_path}`")


def _masked(echo: Echo) -> Echo:
    return lambda line: echo(mask(line))


def _run_years(runner: DbtRunner, config: SimulationConfig, db_path: Path, result: RunResult, echo: Echo) -> None:
    variables = config.dbt_vars()
    runner.parse()
    runner.run("seed", variables, extra=["--full-refresh"])
    for year in range(config.start_year, config.end_year + 1):
        began = time.monotonic()
        # the first simulated year rebuilds the year-keyed tables from scratch (new columns, stale years gone)
        extra = ["--full-refresh"] if year == config.start_year else []
        runner.run("run", {**variables, "simulation_year": year}, extra=extra)
        with duckdb.connect(str(db_path), read_only=True) as con:
            metrics = year_metrics(con, year)
        outcome = YearOutcome(year=year, seconds=round(time.monotonic() - began, 3), metrics=metrics)
        result.years.append(outcome)
        echo(format_year_line(outcome))


def projected_limits_line(years: list[int]) -> str:
    """The one console line saying which years run on projected, not published, IRS limits."""
    span = f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
    return (f"IRS limits: {span} use projected values (not yet published by the IRS; "
            f"see the source column of dbt/seeds/config_irs_limits.csv)")


def format_year_line(outcome: YearOutcome) -> str:
    m = outcome.metrics
    return (f"{outcome.year}: {m['start_headcount']:,} -> {m['end_headcount']:,} employees, "
            f"{m['hire_events']:,} hires, {m['termination_events']:,} terminations, {outcome.seconds:.1f}s")


def _record(result: RunResult, run_dir: Path, db_path: Path | None) -> None:
    """summary.json for every started run (masked), plus a provenance row in run_metadata (never in simulated
    tables) when the run changed the database: a run stopped before its first write leaves the file as it was."""
    summary = run_dir / "summary.json"
    result.summary_path = str(summary)
    tmp = summary.with_suffix(".tmp")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(mask_data(result.to_dict()), indent=2, sort_keys=True, default=str))
        os.replace(tmp, summary)
    except OSError as error:  # a full disk must not turn the run's one-line error into a traceback
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        result.summary_path = f"(not written: {error.strerror})"
    if db_path is None:
        return
    try:
        with duckdb.connect(str(db_path)) as con:
            con.execute(
                "create table if not exists run_metadata (run_id varchar primary key, status varchar, "
                "started_at varchar, ended_at varchar, start_year integer, end_year integer, seed integer, "
                "config_digest varchar, census_fingerprint varchar, planwise_version varchar, summary_path varchar)"
            )
            con.execute(
                "insert or replace into run_metadata values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                mask_data([result.run_id, result.status, result.started_at, result.ended_at, result.start_year,
                           result.end_year, result.seed, result.config_digest, result.census.get("fingerprint"),
                           __version__, str(summary)]),
            )
    except duckdb.Error as error:
        result.errors.append(mask(f"could not record run_metadata: {error}"))
