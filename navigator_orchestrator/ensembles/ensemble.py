"""Plan-design ensembles: many seeds per scenario, each (scenario, seed) one ordinary run on its own database.

A run's result depends only on its scenario config, seed, census and years, so the ensemble is a set of
independent tasks: `plan` validates everything and lists them (nothing is written before that passes),
`run_task` does one of them in a worker process (the `simulate` a `planwise run` does, into
`<out>/work/<scenario>/seed_<n>/simulation.duckdb`, backup off) and writes its per-year metrics to
`<out>/runs/<scenario>__seed_<n>.json` atomically, with a checksum, and `collect` gathers the verified files
into `runs.parquet`. Every run database has the same file name, so a worker's dbt manifest (kept per project
and database name in `dbt_runner`) is parsed once and reused by each run the worker does. `--resume` keeps a
result file only when it parses, its checksum holds and it was made from the same config digest, census
fingerprint, seed and years.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import duckdb

from ..dbt_layer.inserts import insert_rows
from ..errors import InputError, SimulationError
from ..inputs.config import SimulationConfig
from ..run.progress import PLAIN, Status
from ..safety.atomic import write_atomically
from ..safety.interrupts import sigterm_interrupts
from .executors import Ledger, Scheduler, execute, parse_scheduler

FORMAT = 1
EMPLOYER_COST = "employer_cost"  # derived per year: employer_match + employer_core
NET_EMPLOYER_COST = "net_employer_cost"  # the run's own metric: employer_cost - forfeitures_used
FAIL_ENV = "PLANWISE_TEST_RUN_FAIL"  # test fault: "<scenario>__seed_<n>:<k>,..." makes those runs raise on attempts 1..k
_ONE_RUN = threading.Lock()  # dbt keeps global state: one run at a time per process, whatever the worker threads
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Task:
    """One (scenario, seed) run, with everything a worker needs (picklable: plain values, no open handles)."""

    scenario: str
    seed: int
    values: dict[str, Any]  # the run's validated config values (seed and years already set)
    source: str  # the scenario file, for messages
    census: str
    out: str
    config_digest: str
    census_fingerprint: str
    keep_database: bool = False
    census_sheet: str | None = None  # the sheet of an .xlsx census
    census_map: str | None = None  # the census map it is read through

    @property
    def key(self) -> str:
        return f"{self.scenario}__seed_{self.seed}"

    @property
    def label(self) -> str:
        return f"{self.scenario} seed {self.seed}"

    @property
    def result_path(self) -> Path:
        return Path(self.out) / "runs" / f"{self.key}.json"

    @property
    def work_dir(self) -> Path:
        return Path(self.out) / "work" / self.scenario / f"seed_{self.seed}"

    @property
    def years(self) -> list[int]:
        return list(range(self.values["simulation.start_year"], self.values["simulation.end_year"] + 1))


def parse_seeds(text: str) -> list[int]:
    """'1-100', '1,2,5' or a mix ('1-3,7') -> sorted distinct seeds; anything else is an InputError."""
    seeds: set[int] = set()
    for part in (text or "").split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise InputError(f"--seeds {text!r}: {part.strip() or '(empty)'!r} is not a seed or a range",
                             "write seeds as 1-100, 1,2,5 or 1-3,7")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise InputError(f"--seeds {text!r}: range {first}-{last} ends before it starts",
                             f"write it as {last}-{first}")
        if last > 2**31 - 1:
            raise InputError(f"--seeds {text!r}: seeds go up to {2**31 - 1}", "use smaller seeds")
        seeds.update(range(first, last + 1))
    return sorted(seeds)


def plan_tasks(scenarios: list, seeds: list[int], census: Path, fingerprint: str, out: Path,
               keep_databases: bool, census_sheet: str | None = None, census_map: Path | None = None) -> list[Task]:
    """Every (scenario, seed) in scenario order, then seed order."""
    tasks = []
    for scenario in scenarios:
        for seed in seeds:
            config = scenario.config.with_overrides({"simulation.random_seed": seed})
            tasks.append(Task(scenario=scenario.name, seed=seed, values=dict(config.values), source=str(scenario.path),
                              census=str(census), out=str(out), config_digest=config.digest(),
                              census_fingerprint=fingerprint, keep_database=keep_databases, census_sheet=census_sheet,
                              census_map=str(census_map) if census_map else None))
    return tasks


# ------------------------------------------------------------------------------------------------ in a worker
def run_task(task: Task, attempt: int = 1) -> dict:
    """Run one task in this process and write its result file; raise on a failed run (the executor retries).

    The task's folder is made anew (a killed earlier attempt may have left a half-built database) and holds
    `worker.pid`, so an operator (or a test) can find the process doing it."""
    from ..run.pipeline import RunRequest, simulate

    with _ONE_RUN:
        _test_fault(task, attempt)
        began = time.monotonic()
        folder = task.work_dir
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / "worker.pid").write_text(f"{os.getpid()}\n")
        lines: list[str] = []
        request = RunRequest(config=SimulationConfig(task.values, task.source), db_path=folder / "simulation.duckdb",
                             census_path=Path(task.census), census_sheet=task.census_sheet,
                             census_map=Path(task.census_map) if task.census_map else None, threads=1, backup=False)
        result = simulate(request, echo=lines.append)
        if result.status != "success":
            raise SimulationError(f"{task.label}: run {result.status}: {result.errors[0] if result.errors else '?'} "
                                  f"(its database and log are kept in {folder})")
        if result.census.get("fingerprint") != task.census_fingerprint:
            raise SimulationError(f"{task.label}: the census changed during the ensemble", "run it again")
        record = make_record(task, [(y.year, y.metrics) for y in result.years],
                             {"run_id": result.run_id, "seconds": round(time.monotonic() - began, 3),
                              "pid": os.getpid(), "host": socket.gethostname(), "attempt": attempt})
        write_result(task, record)
        if not task.keep_database:
            shutil.rmtree(folder, ignore_errors=True)
        return record


def _test_fault(task: Task, attempt: int) -> None:
    """Test hook (like `faults.py`): raise on the first k attempts of the run named by PLANWISE_TEST_RUN_FAIL."""
    for wanted in os.environ.get(FAIL_ENV, "").split(","):
        name, _, count = wanted.strip().partition(":")
        if name == task.key and attempt <= int(count or 1):
            raise SimulationError(f"{task.label}: test fault ({FAIL_ENV}), attempt {attempt}")


def with_employer_cost(metrics: dict) -> dict:
    """The year's metrics plus employer_cost = employer_match + employer_core (exact decimal strings)."""
    cost = Decimal(str(metrics["employer_match"])) + Decimal(str(metrics["employer_core"]))
    return {**metrics, EMPLOYER_COST: str(cost)}


def make_record(task: Task, years: list[tuple[int, dict]], run: dict) -> dict:
    """The result file's content: what was run (digests), per-year metrics, how it ran, and a checksum."""
    record = {"format": FORMAT, "scenario": task.scenario, "seed": task.seed, "years": task.years,
              "config_digest": task.config_digest, "census_fingerprint": task.census_fingerprint,
              "metrics": {str(year): with_employer_cost(metrics) for year, metrics in years}, "run": run}
    record["checksum"] = _checksum(record)
    return record


def _checksum(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_result(task: Task, record: dict) -> None:
    write_atomically(task.result_path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def verify_result(task: Task) -> tuple[dict | None, str]:
    """(record, "") when the task's result file is complete and made from exactly this task, else (None, why)."""
    path = task.result_path
    if not path.is_file():
        return None, "no result file"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"result file unreadable ({type(error).__name__})"
    if not isinstance(record, dict) or record.get("checksum") != _checksum(record):
        return None, "checksum mismatch"
    expected = {"format": FORMAT, "scenario": task.scenario, "seed": task.seed, "years": task.years,
                "config_digest": task.config_digest, "census_fingerprint": task.census_fingerprint}
    changed = [name for name, value in expected.items() if record.get(name) != value]
    if changed:
        return None, f"made from another {', '.join(changed)}"
    if sorted(record.get("metrics", {})) != [str(year) for year in task.years]:
        return None, "years missing"
    return record, ""


# ------------------------------------------------------------------------------------------------ the outputs
def write_runs_parquet(records: list[dict], path: Path) -> int:
    """Every run's per-year metrics, one row per (scenario, seed, year), sorted so; counts BIGINT, money and
    rates DECIMAL at their own scale (exact). Written to a temp file and renamed. Returns the row count."""
    rows = sorted(((r["scenario"], r["seed"], int(year), metrics) for r in records
                   for year, metrics in r["metrics"].items()), key=lambda row: row[:3])
    if not rows:
        raise SimulationError("no run succeeded: nothing to write to runs.parquet", "see the failed runs above")
    names = list(rows[0][3])
    types = [_column_type([row[3][name] for row in rows]) for name in names]
    tmp = path.with_name(path.name + ".tmp")
    with duckdb.connect() as con:
        columns = ", ".join(f'"{n}" {t}' for n, t in zip(names, types))
        con.execute(f"create table runs (scenario varchar, seed bigint, year integer, {columns})")
        insert_rows(con, "runs", [[s, seed, year, *(m[n] for n in names)] for s, seed, year, m in rows])
        con.execute(f"copy (select * from runs order by scenario, seed, year) to '{_sql_path(tmp)}' (format parquet)")
    os.replace(tmp, path)
    return len(rows)


def _column_type(values: list) -> str:
    if all(isinstance(v, int) for v in values):
        return "bigint"
    scale = max(len(str(v).partition(".")[2]) for v in values)
    return f"decimal(18, {scale})"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


@dataclass
class EnsembleOutcome:
    """What the ensemble did: the records of the runs that succeeded, and the failed runs with their errors."""

    records: dict[str, dict] = field(default_factory=dict)  # task key -> record
    failed: dict[str, str] = field(default_factory=dict)  # task key -> last error
    resumed: list[str] = field(default_factory=list)  # task keys whose verified result files were kept
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------ the driver
@dataclass
class EnsembleRequest:
    """`planwise ensemble`'s arguments, as given (validated by `prepare`)."""

    scenarios: list[Path]
    seeds: str
    out: Path
    years: str | None = None
    census: Path | None = None
    census_sheet: str | None = None
    census_map: Path | None = None
    config: Path | None = None
    scheduler: str | None = None
    workers: int | None = None
    retries: int = 0
    resume: bool = False
    baseline: str | None = None
    keep_databases: bool = False


@dataclass
class Plan:
    """A validated ensemble: nothing is written before one exists."""

    request: EnsembleRequest
    base: SimulationConfig
    scenarios: list
    seeds: list[int]
    census: Path
    census_fingerprint: str
    scheduler: Scheduler
    tasks: list[Task]


def prepare(request: EnsembleRequest, echo: Echo = print) -> Plan:
    """Validate every input (seeds, years, base config, every scenario file, baseline, scheduler, census, --out)
    and list the tasks; raise InputError on the first kind of problem, before anything is written."""
    from datetime import date

    from ..inputs.census import stage_census
    from ..inputs.config import load_config
    from ..inputs.years import check_years_supported, parse_years
    from ..run.pipeline import resolve_census
    from .scenarios import load_scenarios

    seeds = parse_seeds(request.seeds)
    overrides = {}
    if request.years is not None:
        start, end = parse_years(request.years)
        overrides = {"simulation.start_year": start, "simulation.end_year": end}
    base = load_config(request.config, overrides)
    check_years_supported(base.start_year, base.end_year)
    scenarios = load_scenarios(request.scenarios, base)
    names = [s.name for s in scenarios]
    if request.baseline is not None and request.baseline not in names:
        raise InputError(f"--baseline-scenario {request.baseline!r} is not one of the scenarios ({', '.join(names)})",
                         "name a scenario by its file stem")
    scheduler = parse_scheduler(request.scheduler, request.workers)
    out = request.out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", "point --out at a folder (it is created if missing)")
    if not request.resume and any((out / "runs").glob("*.json")):
        raise InputError(f"--out {out} already holds an ensemble's run results",
                         "pass --resume to continue that ensemble (verified runs are kept), or choose an empty folder")
    census = resolve_census(request.census.expanduser().resolve() if request.census else None, echo)
    census_map = request.census_map.expanduser().resolve() if request.census_map else None
    with stage_census(census, date(base.start_year - 1, 12, 31), request.census_sheet, census_map) as staged:
        fingerprint = staged.report.fingerprint
    request.out = out
    tasks = plan_tasks(scenarios, seeds, census, fingerprint, out, request.keep_databases, request.census_sheet,
                       census_map)
    return Plan(request, base, scenarios, seeds, census, fingerprint, scheduler, tasks)


def run_ensemble(plan: Plan, echo: Echo = print, progress: Status = PLAIN) -> int:
    """Run the plan's missing runs, then write runs.parquet, the bands, the paired differences, the charts and
    the manifest. 0 when every run succeeded, 1 (naming the failed runs) otherwise. `progress` is told the runs
    done (the CLI's status line on a terminal)."""
    from . import bands as band_tables
    from . import charts

    began = time.monotonic()
    request, out = plan.request, plan.request.out
    out.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(plan)
    write_atomically(out / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")
    kept: dict[str, dict] = {}
    todo = plan.tasks
    if request.resume:
        todo = []
        for task in plan.tasks:
            record, why = verify_result(task)
            if record is not None:
                kept[task.key] = record
            else:
                todo.append(task)
                if why != "no result file":
                    echo(f"resume: {task.label}: rerun ({why})")
        echo(f"resume: {len(kept)} of {len(plan.tasks)} runs verified and kept, {len(todo)} to run")
    echo(f"ensemble: {len(plan.scenarios)} scenario{'s' if len(plan.scenarios) > 1 else ''} x {len(plan.seeds)} seeds"
         f" = {len(plan.tasks)} runs of {plan.base.start_year}-{plan.base.end_year} on {plan.scheduler.describe()}")
    def said(line: str) -> None:  # the ledger speaks when a run finishes (or is retried): the status line follows
        echo(line)
        progress.done(ledger.finished, len(ledger.outcome.failed))

    ledger = Ledger(len(todo), request.retries, said)
    progress.begin(len(todo))
    # SIGTERM stops the ensemble like Ctrl-C: workers stopped, finished runs kept (the status line cleared first)
    with sigterm_interrupts(), progress.cleared_on_signal():
        done = execute(run_task, todo, plan.scheduler, ledger)
    outcome = EnsembleOutcome(records=done.records, failed=done.failed)
    records = dict(kept)
    for task in todo:
        if task.key in outcome.records:
            record, _ = verify_result(task)
            if record is None:  # a remote worker without a shared filesystem: write it here
                write_result(task, outcome.records[task.key])
                record = outcome.records[task.key]
            records[task.key] = record
    ordered = [records[t.key] for t in plan.tasks if t.key in records]
    outputs: list[Path] = []
    if ordered:
        write_runs_parquet(ordered, out / "runs.parquet")
        outputs.append(out / "runs.parquet")
        band_rows = band_tables.bands(out / "runs.parquet")
        outputs += band_tables.write_table(band_rows, band_tables.BAND_COLUMNS, out / "bands")
        paired_rows: list[dict] = []
        if request.baseline:
            paired_rows = band_tables.paired(out / "runs.parquet", request.baseline)
            outputs += band_tables.write_table(paired_rows, band_tables.PAIRED_COLUMNS, out / "paired")
            for key, metric, words in (("paired_widths", EMPLOYER_COST, "employer cost"),
                                       ("paired_net_widths", NET_EMPLOYER_COST, "net employer cost")):
                manifest[key] = [
                    {k: row[k] for k in ("scenario", "baseline", "year", "p50", "paired_width", "unpaired_width")}
                    for row in paired_rows if row["metric"] == metric]
                for row in manifest[key]:
                    echo(f"paired {words} {row['scenario']} - {row['baseline']}, {row['year']}: median "
                         f"{row['p50']:+,.0f}, p5-p95 width {row['paired_width']:,.0f} paired vs "
                         + (f"{row['unpaired_width']:,.0f} unpaired" if row["unpaired_width"] is not None
                            else "n/a unpaired (one seed)"))
        if charts.available():
            outputs += charts.draw(band_rows, paired_rows, out / "charts", request.baseline)
        else:
            echo(f"charts: not drawn, matplotlib is not installed ({charts.CHARTS_EXTRA})")
    if not request.keep_databases:
        _remove_empty(out / "work")
    manifest.update(status="complete" if not outcome.failed else "failed",
                    finished_at=_now(), seconds=round(time.monotonic() - began, 3),
                    runs={"planned": len(plan.tasks), "succeeded": len(ordered), "resumed": sorted(kept),
                          "failed": dict(sorted(outcome.failed.items()))},
                    outputs=[str(p.relative_to(out)) for p in outputs])
    write_atomically(out / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")
    echo(f"ensemble: {len(ordered)} of {len(plan.tasks)} runs ok in {time.monotonic() - began:.1f}s; "
         f"results in {out} (runs.parquet, bands.csv{', paired.csv' if request.baseline and ordered else ''}, "
         "charts/, manifest.json)")
    if outcome.failed:
        names = ", ".join(key for key in sorted(outcome.failed))
        raise SimulationError(f"{len(outcome.failed)} of {len(plan.tasks)} runs failed: {names}; first error: "
                              f"{outcome.failed[sorted(outcome.failed)[0]]}",
                              "fix the cause, then run the same command with --resume (the runs that succeeded "
                              "are kept)")
    return 0


def _manifest(plan: Plan) -> dict:
    from ..run.summary import versions
    from .scenarios import SEED_KEY

    return {
        "status": "running", "command": "planwise ensemble", "created_at": _now(),
        "years": [plan.base.start_year, plan.base.end_year], "seeds": plan.seeds,
        "baseline_scenario": plan.request.baseline,
        "base_config": {"path": plan.base.source, "config_digest": plan.base.digest(without=(SEED_KEY,))},
        "scenarios": [{"name": s.name, "file": str(s.path), "config_digest": s.digest,
                       "overrides": s.overrides(plan.base)} for s in plan.scenarios],
        "scenario_differences": scenario_differences(plan.scenarios),
        "census": {"path": str(plan.census), "fingerprint": plan.census_fingerprint},
        "executor": {"scheduler": plan.scheduler.describe(), "retries": plan.request.retries},
        "digests": "config_digest leaves out the seed; each run file holds its own run's digest (seed included)",
        "versions": versions(),
    }


def scenario_differences(scenarios: list) -> dict[str, dict[str, Any]]:
    """{dotted key: {scenario: value}} of every key whose value is not the same in all the scenarios: what
    `planwise report` and `export` show as the scenarios' differences."""
    from ..inputs.config import SCHEMA_BY_KEY

    return {key: {s.name: setting.jsonable(s.config.values[key]) for s in scenarios}
            for key, setting in SCHEMA_BY_KEY.items() if len({repr(s.config.values[key]) for s in scenarios}) > 1}


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _remove_empty(folder: Path) -> None:
    """Remove `folder`'s empty subfolders (a failed run's folder, kept for diagnosis, stays)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
