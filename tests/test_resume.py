"""Recover without starting over: year checkpoints and `planwise run --resume`, with real processes
killed for real (SIGKILL) at more than twenty points of a 3-year run.

Every scenario starts from a copy of a database a different run (seed 7) completed, so a killed run has a real
pre-run backup to make and checkpoints it must not trust. After every kill: the `.done` files are exactly the
years the killed run's log says it completed (or proved), each holds the uninterrupted run's digests, and the
next `--resume` skips exactly those years (read from its log). The last resume of each chain completes, and its
year-keyed tables equal the uninterrupted run's.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import time
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.run.checkpoints import checkpoint_dir
from navigator_orchestrator.safety.digest import year_digests
from navigator_orchestrator.safety.locking import file_lock
from pytest_planwise.commands import planwise_command, planwise_process
from pytest_planwise.runs import census_file
from support.commands import copy_dbt_project
from support.commands import run_log_lines as log_lines

pytestmark = pytest.mark.resume

YEARS = [2025, 2026, 2027]
EMPLOYEES = 150
DB = "sim.duckdb"


def run_args(folder: Path, census: Path, *extra, years: str = "2025-2027", seed: int = 42) -> list:
    return ["run", "--years", years, "--census", census, "--db", folder / DB, "--seed", seed, "--threads", "1",
            *extra]


def digests(db: Path, years=YEARS) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return year_digests(con, list(years))


def done_years(folder: Path, seed: int = 42) -> list[int]:
    """Years with a `.done` of a run with this seed (a run killed before its first write leaves the seed-7
    checkpoints it started from: they still describe the database, and their inputs keep them from being used)."""
    paths = checkpoint_dir(folder / DB).glob("year_*.done")
    return sorted(int(p.name[5:9]) for p in paths
                  if json.loads(p.read_text())["inputs"]["config"]["simulation.random_seed"] == seed)


def new_log(folder: Path, before: set[Path]) -> list[dict]:
    (log,) = set((folder / "logs").glob("*.jsonl")) - before
    return log_lines(log)


def decisions(lines: list[dict]) -> dict[int, str]:
    return {line["year"]: line["action"] for line in lines if line["event"] == "year_resume"}


def completed(lines: list[dict]) -> list[int]:
    """Years the run's log says are done: checkpointed by it, or proven and skipped."""
    return sorted({line["year"] for line in lines if line["event"] == "checkpoint_written"}
                  | {year for year, action in decisions(lines).items() if action == "skipped"})


@pytest.fixture(scope="module")
def world(planwise_root: Path) -> dict:
    """The census, a completed seed-7 database to start from (with its checkpoints), and the uninterrupted
    seed-42 run's digests: built once per session, shared by xdist workers."""
    census = census_file(planwise_root, EMPLOYEES, 42)
    root = planwise_root / "resume_world"
    with file_lock(planwise_root / "resume_world.lock"):
        if not (root / "reference.json").exists():
            shutil.rmtree(root, ignore_errors=True)
            for name, seed in (("base", 7), ("reference", 42)):
                (root / name).mkdir(parents=True)
                done = planwise_command(run_args(root / name, census, seed=seed), root / name)
                assert done.returncode == 0, done.stderr
            (root / "reference.json").write_text(json.dumps(digests(root / "reference" / DB)))
    reference = {int(year): tables for year, tables in json.loads((root / "reference.json").read_text()).items()}
    return {"census": census, "base": root / "base", "reference": reference, "reference_folder": root / "reference"}


def start_from(source: Path, folder: Path) -> Path:
    """A copy of a finished run's database and its checkpoints (nothing else: no lock, logs or backups)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / DB, folder / DB)
    shutil.copytree(checkpoint_dir(source / DB), checkpoint_dir(folder / DB))
    return folder


def kill_run(folder: Path, census: Path, point: str, resume: bool) -> list[dict]:
    """One run SIGKILLed at `point`; returns its log. `backup:kill` dies half-way through the pre-run backup copy,
    `external:<event>:<seconds>` is killed from outside that long after the event, anything else is
    `PLANWISE_TEST_KILL` (the process kills itself at that exact point)."""
    before = set((folder / "logs").glob("*.jsonl"))
    args = run_args(folder, census, *(["--resume"] if resume else []))
    if point.startswith("external:"):
        _, event, delay = point.split(":")
        process = planwise_process(args, folder)
        try:
            deadline = time.monotonic() + 120
            while not any(line["event"] == event for log in set((folder / "logs").glob("*.jsonl")) - before
                          for line in log_lines(log)):
                assert process.poll() is None, f"the run ended before {event}: {process.communicate()}"
                assert time.monotonic() < deadline, f"no {event} within 120 s"
                time.sleep(0.02)
            time.sleep(float(delay))
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=60)
        code = process.returncode
    else:
        env = {"PLANWISE_TEST_FAULT": point} if point.startswith("backup:") else {"PLANWISE_TEST_KILL": point}
        done = planwise_command(args, folder, env)
        code, stderr = done.returncode, done.stderr
        assert code == -signal.SIGKILL, f"{point}: the run was not killed (exit {code}): {stderr[-2000:]}"
    assert code == -signal.SIGKILL, f"{point}: exit {code}"
    return new_log(folder, before)


# Each chain: a fresh run over the seed-7 database killed at the first point, then `--resume` runs killed at the
# next points (counts are within that process: `model_finished:20` is its 20th model), then a resume that ends.
CHAINS = {
    "early": ["backup:kill", "backup_created:1", "dbt_parsed:1", "model_finished:9", "checkpoint:1",
              "checkpoint_written:1"],
    "gates": ["log:1", "year_started:1", "model_finished:16", "quality_check:7", "summary:2", "year_resume:2"],
    "middle": ["year_finished:1", "model_finished:1", "external:year_started:0.4", "quality_check:3", "checkpoint:1",
               "checkpoint_written:2"],
    "late": ["model_finished:40", "external:dbt_parsed:0.3", "checkpoint:1", "summary:4", "run_finished:1"],
}


@pytest.mark.parametrize("chain", CHAINS)
def test_sigkill_anywhere_then_resume_equals_the_uninterrupted_run(world, tmp_path, chain):
    folder = start_from(world["base"], tmp_path / "run")
    expected_skips: list[int] = []
    for step, point in enumerate(CHAINS[chain]):
        lines = kill_run(folder, world["census"], point, resume=step > 0)
        if point == "year_finished:1":  # a run holds its file open between years (held_open): 2025's rows are in
            assert (folder / f"{DB}.wal").stat().st_size > 0  # DuckDB's write-ahead log, replayed by the next open
        if step > 0:
            assert [y for y, a in decisions(lines).items() if a == "skipped"] == expected_skips, point
        expected_skips = completed(lines)
        assert done_years(folder) == expected_skips, f"after {point}: the checkpoints are not what the log says"
        stored = digests(folder / DB, expected_skips)
        for year in expected_skips:
            recorded = json.loads((checkpoint_dir(folder / DB) / f"year_{year}.done").read_text())["digests"]
            assert recorded == world["reference"][year] == stored[year], f"after {point}: {year} differs"
    before = set((folder / "logs").glob("*.jsonl"))
    done = planwise_command(run_args(folder, world["census"], "--resume"), folder)
    assert done.returncode == 0, done.stderr
    lines = new_log(folder, before)
    assert [y for y, a in decisions(lines).items() if a == "skipped"] == expected_skips
    assert digests(folder / DB) == world["reference"]
    assert done_years(folder) == YEARS


def test_a_model_broken_in_2026_then_fixed_resumes_from_2026(world, tmp_path):
    """A model fixed after it failed in 2026: the fix changes only 2026's SQL, so 2025 is proven and skipped."""
    project = copy_dbt_project(tmp_path)
    model = project / "models" / "intermediate" / "int_hiring_events.sql"
    good = model.read_text()
    model.write_text(good.replace("from aged\n", "from aged{% if sim_year() | int == 2026 %}\n"
                                                 "where error('broken for 2026 only') is null{% endif %}\n"))
    folder = tmp_path / "run"
    folder.mkdir()
    failed = planwise_command(run_args(folder, world["census"], "--dbt-project", project), folder)
    assert failed.returncode == 1 and "broken for 2026 only" in failed.stderr
    assert done_years(folder) == [2025]
    # dbt's own lines are where they were (its loggers format only what they write): the model's error on the
    # console, and in dbt.log each node's result at info, the error at error, no statement at debug
    assert re.search(r"ERROR creating sql \w+ model main\.int_hiring_events", failed.stdout), failed.stdout
    assert "broken for 2026 only" in failed.stdout
    (dbt_log,) = (folder / "artifacts" / "runs").glob("*/dbt/logs/dbt.log")
    run_lines = dbt_log.read_text().split("Command `cli parse` succeeded", 1)[1].splitlines()
    nodes = len(list((project / "seeds").glob("*.csv"))) + len(list((project / "models").rglob("*.sql")))
    assert sum("[info ]" in line and f" of {nodes} OK " in line for line in run_lines) == nodes  # 2025's seeds, models
    assert any("[error]" in line and "int_hiring_events" in line for line in run_lines)
    assert not any("[debug]" in line and "SQL" in line for line in run_lines)

    model.write_text(good)  # the fix
    before = set((folder / "logs").glob("*.jsonl"))
    fixed = planwise_command(run_args(folder, world["census"], "--dbt-project", project, "--resume"), folder)
    assert fixed.returncode == 0, fixed.stderr
    lines = new_log(folder, before)
    assert decisions(lines) == {2025: "skipped", 2026: "rebuilt", 2027: "rebuilt"}
    assert "2025: skipped (checkpoint verified; edited int_hiring_events: this year's compiled SQL is unchanged)" \
        in fixed.stdout
    assert [line["year"] for line in lines if line["event"] == "year_started"] == [2026, 2027]
    assert digests(folder / DB) == world["reference"]


def test_a_config_change_rebuilds_what_it_can_change_and_nothing_else(world, tmp_path):
    folder = start_from(world["reference_folder"], tmp_path / "run")
    keep = tmp_path / "keep.yaml"
    keep.write_text("backup:\n  keep: 3\n")
    same = planwise_command(run_args(folder, world["census"], "--config", keep, "--resume"), folder)
    assert same.returncode == 0, same.stderr
    assert [line for line in same.stdout.splitlines() if ": skipped" in line] == [
        f"{year}: skipped (checkpoint verified)" for year in YEARS]

    merit = tmp_path / "merit.yaml"
    merit.write_text("compensation:\n  merit_budget: 0.045\n")
    changed = planwise_command(run_args(folder, world["census"], "--config", merit, "--resume"), folder)
    assert changed.returncode == 0, changed.stderr
    assert [f"{year}: rebuilt (config changed: compensation.merit_budget)" for year in YEARS] == [
        line for line in changed.stdout.splitlines() if ": rebuilt" in line]
    summary = json.loads(Path(changed.stdout.split("summary ")[-1].strip()).read_text())
    assert summary["years_skipped"] == [] and summary["years_processed"] == YEARS
    assert digests(folder / DB) != world["reference"]


def test_a_database_restored_from_an_older_backup_rebuilds_the_years_it_lost(world, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    first = planwise_command(run_args(folder, world["census"], "--resume", years="2025-2026"), folder)
    assert first.returncode == 0, first.stderr
    assert "2025: rebuilt (no checkpoint)" in first.stdout  # --resume with no checkpoints is a normal run
    longer = planwise_command(run_args(folder, world["census"], "--resume"), folder)  # backs up 2025-2026 first
    assert longer.returncode == 0, longer.stderr
    assert "2025: skipped" in longer.stdout and "2026: skipped" in longer.stdout and "2027: rebuilt" in longer.stdout
    restored = planwise_command(["backup", "restore", "--db", folder / DB], folder)
    assert restored.returncode == 0, restored.stderr
    assert digests(folder / DB, [2027])[2027] != world["reference"][2027]  # the backup predates 2027

    again = planwise_command(run_args(folder, world["census"], "--resume"), folder)
    assert again.returncode == 0, again.stderr
    assert "2027: rebuilt (database rows differ from the checkpoint: " in again.stdout
    assert "2025: skipped (checkpoint verified)" in again.stdout and "2026: skipped" in again.stdout
    assert digests(folder / DB) == world["reference"]
    # a second database in the same folder keeps its own checkpoints (named like other tests' databases: dbt's
    # parse is kept per database name, and this one is parsed already)
    other = planwise_command(["run", "--years", "2025-2025", "--census", world["census"],
                              "--db", folder / "simulation.duckdb", "--threads", "1"], folder)
    assert other.returncode == 0, other.stderr
    assert [p.name for p in checkpoint_dir(folder / "simulation.duckdb").iterdir()] == ["year_2025.done"]
    assert done_years(folder) == YEARS

    # fewer years, all proven: the database is left as a run of exactly those years leaves it (2027 removed)
    shorter = planwise_command(run_args(folder, world["census"], "--resume", years="2025-2026"), folder)
    assert shorter.returncode == 0, shorter.stderr
    assert "2025: skipped (checkpoint verified)" in shorter.stdout and "2026: skipped" in shorter.stdout
    kept = digests(folder / DB)
    assert {year: kept[year] for year in (2025, 2026)} == {year: world["reference"][year] for year in (2025, 2026)}
    assert all(count == 0 for count, _ in kept[2027].values()) and done_years(folder) == [2025, 2026]
    summary = json.loads(Path(shorter.stdout.split("summary ")[-1].strip()).read_text())
    assert summary["total_rows"] == {table: sum(kept[year][table][0] for year in (2025, 2026)) for table in kept[2025]}


def _resign(record: dict) -> dict:
    """A hand edit made by someone who also recomputed the checksum: only the database check can catch it."""
    from navigator_orchestrator.run.checkpoints import _sha256

    body = {k: v for k, v in record.items() if k != "checksum"}
    return {**body, "checksum": _sha256(body)}


EDITS = {
    "bad json": (lambda folder: _done(folder, 2027).write_text("{not json"), "checkpoint unreadable: not valid JSON"),
    "edited digest": (lambda folder: _edit(folder, 2027, _with_digest),
                      "checkpoint unreadable: its checksum does not match its content (edited by hand?)"),
    "edited digest, checksum recomputed": (lambda folder: _edit(folder, 2027, lambda r: _resign(_with_digest(r))),
                                           "database rows differ from the checkpoint: fct_workforce_snapshot"),
    "wrong year": (lambda folder: shutil.copy(_done(folder, 2026), _done(folder, 2027)),
                   "checkpoint unreadable: it records year 2026, status done, format 1"),
}


def _done(folder: Path, year: int) -> Path:
    return checkpoint_dir(folder / DB) / f"year_{year}.done"


def _edit(folder: Path, year: int, change) -> None:
    _done(folder, year).write_text(json.dumps(change(json.loads(_done(folder, year).read_text()))))


def _with_digest(record: dict) -> dict:
    tables = dict(record["digests"])
    count, total = tables["fct_workforce_snapshot"]
    tables["fct_workforce_snapshot"] = [count, str(int(total) + 1)]
    return {**record, "digests": tables}


@pytest.mark.parametrize("edit", EDITS)
def test_a_checkpoint_edited_by_hand_is_never_trusted(world, tmp_path, edit):
    folder = start_from(world["reference_folder"], tmp_path / "run")
    change, reason = EDITS[edit]
    change(folder)
    done = planwise_command(run_args(folder, world["census"], "--resume"), folder)
    assert done.returncode == 0, done.stderr
    assert f"2027: rebuilt ({reason})" in done.stdout.splitlines()
    assert "2026: skipped (checkpoint verified)" in done.stdout
    assert digests(folder / DB) == world["reference"]
    assert json.loads(_done(folder, 2027).read_text())["digests"] == world["reference"][2027]


def test_a_database_that_cannot_be_opened_names_the_restore_command(world, tmp_path):
    folder = start_from(world["reference_folder"], tmp_path / "run")
    with (folder / DB).open("r+b") as handle:  # a torn write over the file's header and first blocks
        handle.write(b"\0garbage" * 4096)
    done = planwise_command(run_args(folder, world["census"], "--resume"), folder)
    assert done.returncode != 0
    assert f"planwise backup restore --db {folder / DB}" in done.stderr.splitlines()[0]
