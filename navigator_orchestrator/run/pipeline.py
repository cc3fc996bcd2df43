"""The year loop: validate everything, lock and back up the database, load the census, then per simulated year
one dbt invocation and the year's quality gate.

Nothing is written until the required environment, LOG_LEVEL, the config, the years and the census have all
passed their checks, so bad input never changes an existing database. Then the run takes the database's lock
(held until its summary is written), opens its JSONL log and summary (both exist from here on, whatever
happens) and backs the database up before its first write. A year is done only when its gate passed; every
line, log record and summary passes through `masking.mask`. This module conducts; each concern is its own module.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb

from .. import __version__
from ..dbt_layer import dbt_fast_paths
from ..dbt_layer.dbt_runner import DbtRunner, NodeResult, model_hashes
from ..dbt_layer.held_open import connect, held_open
from ..errors import InputError, PlanwiseError, SimulationError
from ..inputs.census import StagedCensus, generate_census, stage_census
from ..inputs.config import SCHEMA_BY_KEY, SimulationConfig
from ..inputs.memory import DEFAULT_MEMORY_LIMIT
from ..inputs.paths import DBT_DIR, DEFAULT_CENSUS, DEFAULT_CENSUS_EMPLOYEES, DEFAULT_CENSUS_SEED, project_census
from ..inputs.years import WAGE_BASE_SEED, check_years_supported, projected_years
from ..safety.atomic import write_atomically
from ..safety.backup import create_backup
from ..safety.digest import row_counts, year_digests, year_keyed_present
from ..safety.interrupts import exit_code, lost_interrupt, sigterm_interrupts
from ..safety.locking import database_failure, run_lock
from ..safety.masking import mask, mask_data
from .checkpoints import Checkpoints, ResumePlan, RunInputs
from .metrics import year_metrics, year_tests
from .progress import PLAIN, Status
from .quality import Verdict, gate
from .run_log import RunLog, log_level, log_path
from .summary import RunResult, YearOutcome, engine_versions, format_year_line, versions, write_summary

Echo = Callable[[str], None]


@dataclass
class RunRequest:
    """Everything one run needs, already resolved (absolute paths, validated config)."""

    config: SimulationConfig
    db_path: Path
    census_path: Path | None = None
    census_sheet: str | None = None  # `--census-sheet`: the sheet of an .xlsx census (default: the first)
    census_map: Path | None = None  # `--census-map`: the client's headers and date format (inputs/census_map.py)
    threads: int = 2
    backup: bool = True  # False: `--no-backup`, recorded in the summary
    dbt_project: Path = DBT_DIR  # `--dbt-project`: a copy of the project (a fix being tried, a test's change)
    resume: bool = False  # `--resume`: skip the years whose checkpoints are proven (checkpoints.py)
    memory_limit: str = DEFAULT_MEMORY_LIMIT  # `--memory-limit`: DuckDB's memory for the run (inputs/memory.py)
    progress: Status = PLAIN  # told each year's stage: the CLI's status line on a terminal (progress.py)


def new_run_id(now: datetime | None = None) -> str:
    """YYYYMMDD_HHMMSS-xxxxxxxx: sortable by start time, unique across concurrent runs."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d_%H%M%S}-{os.urandom(4).hex()}"


def resolve_census(path: Path | None, echo: Echo) -> Path:
    """The given census, else a plan project's own, else the bundled default, generated on first use (never
    committed)."""
    if path is not None:
        return path
    own = project_census()
    if own is not None:
        return own
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
    level = log_level()
    config = request.config
    _require_environment(config)
    dbt_fast_paths.requested()  # PLANWISE_DBT_SPEEDUPS names known speed-ups
    check_years_supported(config.start_year, config.end_year)
    if not request.db_path.parent.is_dir():
        raise InputError(f"--db {request.db_path}: folder {request.db_path.parent} does not exist",
                         "create the folder or point --db at an existing one")
    if not (request.dbt_project / "dbt_project.yml").is_file():
        raise InputError(f"--dbt-project {request.dbt_project}: no dbt_project.yml there",
                         "point --dbt-project at a copy of the project's dbt/ folder")
    census_path = resolve_census(request.census_path, echo)
    staged = stage_census(census_path, date(config.start_year - 1, 12, 31), request.census_sheet, request.census_map)
    run_id = new_run_id()
    with staged, run_lock(request.db_path, run_id, "planwise run", echo), sigterm_interrupts(), \
            request.progress.cleared_on_signal(), RunLog(log_path(request.db_path, run_id), run_id, level, echo) as log:
        return _locked_run(request, staged, log)


def _require_environment(config: SimulationConfig) -> None:
    """Every variable of `environment.required` is set and not empty (from the environment or .env)."""
    missing = [name for name in config.get("environment.required") if not os.environ.get(name)]
    if missing:
        names = ", ".join(missing)
        raise InputError(f"missing required environment variable{'s' if len(missing) > 1 else ''} {names} "
                         f"(environment.required in {config.source})",
                         f"set {names} in the environment or in .env (see .env.example), then run again")


def _locked_run(request: RunRequest, staged: StagedCensus, log: RunLog) -> RunResult:
    """The run proper, under the database's lock: backup, census, years; the summary always."""
    config = request.config
    started = time.monotonic()
    result = RunResult(
        run_id=log.run_id, status="running", db_path=str(request.db_path),
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        start_year=config.start_year, end_year=config.end_year, seed=config.seed,
        config_digest=config.digest(), census=staged.report.to_dict(), log_path=str(log.path), versions=versions(),
    )
    run_dir = request.db_path.parent / "artifacts" / "runs" / result.run_id
    summary_path = run_dir / "summary.json"
    write_summary(result, summary_path)
    _write_config(config, run_dir / "config.json", log)
    log.info("run_started", f"run {result.run_id}: {config.start_year}-{config.end_year}, seed {config.seed}, "
             f"database {request.db_path}", console=False, start_year=config.start_year, end_year=config.end_year,
             seed=config.seed, db_path=str(request.db_path), config_digest=result.config_digest,
             summary_path=str(summary_path), versions=result.versions)
    for line in staged.report.summary_lines():
        log.info("census_staged", line, **_census_fields(staged))
    result.projected_irs_years = projected_years(config.start_year, config.end_year)
    if result.projected_irs_years:
        log.warning("irs_limits_projected", projected_limits_line(result.projected_irs_years),
                    years=result.projected_irs_years)
    if config.get("employer_core_contribution.formula") == "integrated":
        result.projected_wage_base_years = projected_years(config.start_year, config.end_year, WAGE_BASE_SEED)
    if result.projected_wage_base_years:
        log.warning("wage_base_projected", projected_limits_line(result.projected_wage_base_years, wage_base=True),
                    years=result.projected_wage_base_years)
    runner = DbtRunner(db_path=request.db_path, work_dir=run_dir / "dbt", threads=request.threads,
                       project_dir=request.dbt_project)
    written = False  # whether this run changed the database (only then does it get a run_metadata row)
    with ExitStack() as held:  # from the census write to run_metadata, one DuckDB instance (held_open)
        try:
            result.backup = _backup_before_writing(request, log)
            staged.write_to(request.db_path)  # one statement: on failure the file is as it was
            written = True
            result.memory_limit = held.enter_context(held_open(request.db_path, request.memory_limit))
            _run_years(runner, request, result, log, summary_path)
            result.status = "success"
        except KeyboardInterrupt as interrupt:
            _interrupted(result, interrupt)
        except Exception as error:  # a signal during our queries, or during the clean-up of one, is no failure
            interrupt = lost_interrupt(error)
            if interrupt is not None:
                _interrupted(result, interrupt)
            elif isinstance(error, (PlanwiseError, duckdb.Error)):
                failure = database_failure(error, request.db_path)
                result.status, result.exit_code = "failed", failure.exit_code
                result.add_error(str(failure), failure.hint)
            else:  # a bug or a broken installation: still a clean stop, with the traceback in the run log
                _unexpected(result, log, error)
        finally:
            result.dbt_invocations = list(runner.invocations)
            result.ended_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            result.duration_seconds = round(time.monotonic() - started, 3)
            for error in result.recovery:
                log.error(error["error"], fix=error["fix"])
            _record(result, summary_path, request.db_path if written else None)
            log.event("run_finished", f"run {result.run_id}: {result.status} in {result.duration_seconds:.1f}s",
                      "INFO" if result.status == "success" else "ERROR", console=False, status=result.status,
                      exit_code=result.exit_code, seconds=result.duration_seconds,
                      years_processed=result.years_processed, summary_path=result.summary_path)
    return result


def _write_config(config: SimulationConfig, path: Path, log: RunLog) -> None:
    """config.json beside summary.json: every key's value as the run resolved it, and its default then (what
    `planwise report` and `export` list as assumptions); a full disk is logged, not raised, as for the summary."""
    record = {"source": config.source, "config_digest": config.digest(),
              **{name: {k: SCHEMA_BY_KEY[k].jsonable(v) for k, v in each.values.items()}
                 for name, each in (("values", config), ("defaults", SimulationConfig()))}}
    try:
        write_atomically(path, json.dumps(mask_data(record), indent=2, default=str) + "\n")
    except OSError as error:
        log.warning("config_not_written", f"config.json not written: {error.strerror}")


def _interrupted(result: RunResult, interrupt: KeyboardInterrupt) -> None:
    result.status, result.exit_code = "interrupted", exit_code(interrupt)
    what = "SIGTERM" if result.exit_code == 143 else "Ctrl-C"
    stop = PlanwiseError(f"interrupted ({what}); the running year was not completed",
                         "run the same command with --resume: it continues from the year that was running")
    result.add_error(str(stop), stop.hint)  # the console line carries its fix, like every other failure


def projected_limits_line(years: list[int], wage_base: bool = False) -> str:
    """The one line saying which years run on projected, not published, IRS limits (or Social Security wage base,
    which only an integrated core reads)."""
    span = f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
    if wage_base:
        return (f"Social Security wage base: {span} use projected values (not yet announced by the SSA; "
                f"see the source column of dbt/seeds/config_ss_wage_base.csv)")
    return (f"IRS limits: {span} use projected values (not yet published by the IRS; "
            f"see the source column of dbt/seeds/config_irs_limits.csv)")


def _census_fields(staged: StagedCensus) -> dict:
    report = staged.report.to_dict()
    return {key: report[key] for key in ("path", "fingerprint", "rows_read", "active") if key in report}


def _backup_before_writing(request: RunRequest, log: RunLog) -> dict:
    """The pre-run backup, or why there is none; a failed backup stops the run before its first write."""
    if not request.backup:
        log.info("backup_skipped", "backup: skipped (--no-backup)", reason="--no-backup")
        return {"status": "skipped", "reason": "--no-backup"}
    if not request.db_path.exists():
        return {"status": "skipped", "reason": "no database yet (first run)"}
    began = time.monotonic()
    try:
        backup = create_backup(request.db_path, log.run_id, request.config.get("backup.keep"))
    except PlanwiseError as error:
        raise type(error)(f"pre-run backup failed, the run did not start: {error.message}", error.hint) from None
    seconds = round(time.monotonic() - began, 3)
    log.info("backup_created", f"backup: {backup.path} ({backup.manifest['size'] / 1e6:,.1f} MB, verified, "
             f"{seconds:.1f}s)", path=str(backup.path), size=backup.manifest["size"], seconds=seconds)
    return {"status": "created", "path": str(backup.path), "size": backup.manifest["size"],
            "sha256": backup.sha256, "seconds": seconds}


def _unexpected(result: RunResult, log: RunLog, error: Exception) -> None:
    """An exception no part of the run expected (an import error, a bug): the run fails with one line naming it and
    the log that holds its traceback."""
    result.status, result.exit_code = "failed", 1
    log.event("unexpected_error", f"{type(error).__name__}: {error}", "ERROR", console=False,
              error_type=type(error).__name__, traceback=traceback.format_exc())
    stop = PlanwiseError(f"unexpected error: {type(error).__name__}: {' '.join(str(error).split())[:300]}",
                         f"this is a bug or a broken installation, not your input: the traceback is in {log.path}; "
                         f"check the installation (`python -m navigator_orchestrator.environment`) and report it")
    result.add_error(str(stop), stop.hint)


def _masked(echo: Echo) -> Echo:
    return lambda line: echo(mask(line))


def _run_years(runner: DbtRunner, request: RunRequest, result: RunResult, log: RunLog, summary_path: Path) -> None:
    """Each year skipped when `--resume` proves its checkpoint, else built (the first one with the seeds), gated,
    checkpointed: the plan decides, this loop carries it out."""
    config = request.config
    store = Checkpoints(request.db_path)
    inputs = RunInputs.of(config, result.census.get("fingerprint", ""), request.dbt_project, engine_versions())
    plan = _resume_plan(runner, request, store, inputs)
    result.resume = plan.to_dict()
    for decision in plan.decisions if plan.resumed else ():
        log.info("year_resume", decision.line(), year=decision.year,
                 action="skipped" if decision.skip else "rebuilt", reason=decision.reason)
    store.discard_from(plan.discard_from)
    if plan.rebuilt:
        _parse(runner, log, result)
    if plan.skipped:
        _record_skipped(request.db_path, result, log, plan)
        write_summary(result, summary_path)
    previous = plan.chain_start
    request.progress.begin(len(plan.rebuilt))
    for built, decision in enumerate(plan.rebuilt, 1):
        previous = _build_year(runner, request, result, log, store, inputs, plan, decision.year, previous)
        write_summary(result, summary_path)
        request.progress.done(built)


def _resume_plan(runner: DbtRunner, request: RunRequest, store: Checkpoints, inputs: RunInputs) -> ResumePlan:
    """Every year rebuilt, or with `--resume` what the checkpoints prove (compiling only edited models)."""
    years = list(request.config.years)
    if not request.resume:
        return ResumePlan.fresh(years)
    variables = request.config.dbt_vars()
    return store.plan(years, inputs,
                      lambda year, models: runner.compile_models({**variables, "simulation_year": year}, models))


def _parse(runner: DbtRunner, log: RunLog, result: RunResult) -> None:
    """The project's manifest, and which of dbt's speed-ups this process runs with (said once per run)."""
    runner.parse()
    info = runner.parse_info
    log.info("dbt_parsed", f"dbt: {info['source']} ({info['seconds']:.1f}s)", console=False, **info)
    result.dbt_speedups = dbt_fast_paths.status()
    log.info("dbt_speedups", dbt_fast_paths.status_line(result.dbt_speedups),
             console=any(state != "on" for state in result.dbt_speedups.values()), speedups=result.dbt_speedups)


def _record_skipped(db_path: Path, result: RunResult, log: RunLog, plan: ResumePlan) -> None:
    """The skipped years' metrics, read from the database (one read-only connection for all: about 30 ms each);
    with every year skipped, rows of later years (a longer earlier run's) are dropped."""
    with connect(db_path, read_only=True) as con:
        for decision in plan.skipped:
            outcome = _record_year(result, con, decision.year, 0.0, skipped=True)
            log.info("year_finished", format_year_line(outcome), console=False, year=decision.year, skipped=True,
                     metrics=outcome.metrics)
        later = plan.drops_later_years and _years_after(con, plan.decisions[-1].year)
        result.total_rows = row_counts(con)
    if later:
        result.total_rows = _drop_years_after(db_path, plan.decisions[-1].year)


def _build_year(runner: DbtRunner, request: RunRequest, result: RunResult, log: RunLog, store: Checkpoints,
                inputs: RunInputs, plan: ResumePlan, year: int, previous: str) -> str:
    """One year's models, its quality gate (a blocking result stops the run: the year is not done) and its
    checkpoint; the year's input hash, for the next year's chain."""
    config, began = request.config, time.monotonic()
    log.info("year_started", f"{year}: started", console=False, year=year)
    request.progress.doing(f"building {year}")
    store.begin(year, result.run_id)
    # the first simulated year rebuilds the year-keyed tables from scratch (new columns, stale years gone)
    extra = ["--full-refresh"] if year == config.start_year else []
    # the first year built loads the seeds in the same invocation (`build` of seeds and models: one dbt start-up
    # fewer per run); seeds replace their tables whole on every load (`+full_refresh` in dbt_project.yml)
    command = "build" if plan.loads_seeds(year) else "run"
    if command == "build":
        extra += ["--resource-type", "seed", "--resource-type", "model"]
    nodes = runner.run(command, {**config.dbt_vars(), "simulation_year": year}, extra=extra, label="run",
                       on_node=_node_logger(result, log, year, request.progress))
    request.progress.doing(f"building {year} (quality gate)")
    compiled = model_hashes(nodes)
    with connect(request.db_path) as con:  # one connection for the gate, the digests and the metrics
        verdict = gate(con, result.run_id, year, config)
        _log_quality(log, result, year, verdict)
        verdict.enforce()
        digests = year_digests(con, [year])[year]
        input_hash = inputs.year_hash(year, compiled, previous)
        done = store.complete(year, result.run_id, input_hash, inputs, compiled, digests,
                              {c.check: c.status for c in verdict.results})
        log.info("checkpoint_written", f"{year}: checkpoint {done}", console=False, year=year, path=str(done),
                 input_hash=input_hash, row_counts={table: count for table, (count, _) in digests.items()})
        outcome = _record_year(result, con, year, round(time.monotonic() - began, 3))
        result.total_rows = row_counts(con)
    log.info("year_finished", format_year_line(outcome), year=year, seconds=outcome.seconds,
             metrics=outcome.metrics, quality={c.check: c.status for c in verdict.results})
    return input_hash


def _node_logger(result: RunResult, log: RunLog, year: int, progress: Status) -> Callable[[NodeResult], None]:
    """Each seed and model as dbt finishes it: a run-log line, the model's time in the result, and the count of
    the year's models built so far for the status line."""
    built = itertools.count(1)

    def model_finished(node: NodeResult) -> None:
        model = node.unique_id.rsplit(".", 1)[-1]
        if node.unique_id.startswith("seed."):  # loaded with the first year built
            log.event("seed_finished", f"seed {model} {node.status} in {node.seconds:.2f}s",
                      "INFO" if node.status == "success" else "ERROR", console=False, seed=model,
                      status=node.status, seconds=node.seconds)
            return
        result.models.append({"year": year, "model": model, "status": node.status, "seconds": node.seconds})
        progress.doing(f"building {year} (dbt: {next(built)} models)")
        log.event("model_finished", f"{year}: {model} {node.status} in {node.seconds:.2f}s",
                  {"success": "INFO", "skipped": "WARNING"}.get(node.status, "ERROR"), console=False, year=year,
                  model=model, unique_id=node.unique_id, status=node.status, seconds=node.seconds)

    return model_finished


def _record_year(result: RunResult, con: duckdb.DuckDBPyConnection, year: int, seconds: float,
                 skipped: bool = False) -> YearOutcome:
    """The year's metrics, into the result (a skipped year is read from the database)."""
    outcome = YearOutcome(year=year, seconds=seconds, metrics=year_metrics(con, year), skipped=skipped,
                          nondiscrimination=year_tests(con, year))
    result.years.append(outcome)
    (result.years_skipped if skipped else result.years_processed).append(year)
    return outcome


def _years_after(con: duckdb.DuckDBPyConnection, year: int) -> bool:
    """Whether a year-keyed table holds rows after `year` (left by a longer earlier run)."""
    return any(con.execute(f"select 1 from {table} where simulation_year > ? limit 1", [year]).fetchone()
               for table in year_keyed_present(con))


def _drop_years_after(db_path: Path, year: int) -> dict[str, int]:
    """Delete year-keyed rows after `year`; the run's row totals afterwards."""
    with connect(db_path) as con:
        for table in year_keyed_present(con):
            con.execute(f"delete from {table} where simulation_year > ?", [year])
        return row_counts(con)


def _log_quality(log: RunLog, result: RunResult, year: int, verdict: Verdict) -> None:
    """One quality_check line per check of the year (a failure carries its sample), and the summary's record."""
    result.quality[str(year)] = [c.to_dict() for c in verdict.results]
    for check in verdict.results:
        level = "INFO" if check.status == "pass" else ("WARNING" if not check.blocks else "ERROR")
        log.event("quality_check", check.line(), level, console=level == "WARNING", year=year, check=check.check,
                  severity=check.severity, status=check.status, failing_count=check.failing_count,
                  sample=check.sample if check.status != "pass" else [], figures=check.figures)


def _record(result: RunResult, summary: Path, db_path: Path | None) -> None:
    """summary.json for every started run (masked), plus a provenance row in run_metadata (never in simulated
    tables) when the run changed the database: a run stopped before its first write leaves the file as it was."""
    write_summary(result, summary)
    if db_path is None:
        return
    try:
        with connect(db_path) as con:
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
        result.add_error(f"could not record run_metadata: {error}", "the run's results are intact; "
                         "check the disk, then `planwise check` the database")
