"""Every run explains itself: one run id across the JSONL log, summary.json, run_metadata and dq_results;
a summary that exists from the start and survives SIGKILL, failures, Ctrl-C, SIGTERM and a failed backup;
LOG_LEVEL filtering file and console alike."""

import json
import signal
import time
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.run.checkpoints import checkpoint_dir
from navigator_orchestrator.run.quality import CHECKS
from navigator_orchestrator.safety.digest import marts_digest
from navigator_orchestrator.inputs.paths import DBT_DIR
from pytest_planwise.commands import planwise_command, planwise_process
from pytest_planwise.runs import census_file
from support.commands import copy_dbt_project
from support.commands import run_log_lines as log_lines

MODELS = sorted(p.stem for p in (DBT_DIR / "models").rglob("*.sql"))
SUMMARY_FIELDS = {"run_id", "status", "started_at", "ended_at", "duration_seconds", "years", "years_processed",
                  "total_rows", "quality", "slowest_models", "log_path", "versions", "errors", "recovery", "backup",
                  "census", "config_digest", "seed", "exit_code"}
SMALL = 300


def summary_of(folder: Path) -> dict:
    (path,) = (folder / "artifacts" / "runs").glob("*/summary.json")
    return json.loads(path.read_text())


@pytest.fixture
def small_census(planwise_root) -> Path:
    return census_file(planwise_root, SMALL, 42)


def run_args(db: Path, census: Path, years: str = "2025-2025", *extra) -> list:
    return ["run", "--years", years, "--census", census, "--db", db, "--threads", "1", *extra]


def test_one_run_id_in_log_summary_run_metadata_and_dq_results(planwise_run):
    run = planwise_run(years="2025-2026", employees=1000)
    assert run.status == "success", run.stderr
    summary = run.summary
    assert SUMMARY_FIELDS <= set(summary)
    lines = log_lines(summary["log_path"])
    assert Path(summary["log_path"]).parent == run.db_path.parent / "logs"
    assert {line["run_id"] for line in lines} == {summary["run_id"]}
    assert all({"timestamp", "level", "run_id", "event", "message"} <= set(line) for line in lines)
    assert all(line["timestamp"].endswith("+00:00") for line in lines)
    events = [line["event"] for line in lines]
    assert events[0] == "run_started" and events[-1] == "run_finished"
    assert {"census_staged", "year_started", "quality_check", "year_finished"} <= set(events)

    finished = [(line["year"], line["model"]) for line in lines if line["event"] == "model_finished"]
    assert sorted(finished) == sorted((year, model) for year in (2025, 2026) for model in MODELS)
    assert all(line["status"] == "success" and line["seconds"] >= 0 for line in lines
               if line["event"] == "model_finished")

    with run.connect() as con:
        assert con.execute("select run_id from run_metadata").fetchall() == [(summary["run_id"],)]
        assert {r for (r,) in con.execute("select distinct run_id from dq_results").fetchall()} == {summary["run_id"]}
        checks = con.execute('select year, count(*) from dq_results group by 1 order by 1').fetchall()
    assert checks == [(2025, len(CHECKS)), (2026, len(CHECKS))]
    assert summary["years_processed"] == [2025, 2026] and summary["status"] == "success"
    assert [c["check"] for c in summary["quality"]["2026"]] == [c for (c,) in run.query(
        "select \"check\" from dq_results where year = 2026 order by rowid")]
    assert len(summary["slowest_models"]) == 5
    assert summary["slowest_models"][0]["seconds"] >= summary["slowest_models"][-1]["seconds"]
    assert summary["total_rows"]["fct_workforce_snapshot"] == run.query(
        "select count(*) from fct_workforce_snapshot")[0][0]
    assert set(summary["versions"]) == {"planwise", "dbt-core", "dbt-duckdb", "duckdb", "python"}


def test_log_level_warning_keeps_the_warning_and_leaves_no_info_line(tmp_path, small_census):
    """A run that warns: 2027's IRS limits are projected (`irs_limits_projected`, a WARNING). At LOG_LEVEL=WARNING
    the warning is in the log and on the console, and nothing at INFO is in either; the same run at INFO logs both."""
    done = planwise_command(run_args(tmp_path / "sim.duckdb", small_census, "2027-2027"), tmp_path,
                            {"LOG_LEVEL": "warning"})
    assert done.returncode == 0, done.stderr
    summary = summary_of(tmp_path)
    assert summary["status"] == "success" and summary["projected_irs_years"] == [2027]
    lines = log_lines(summary["log_path"])
    warned = [line for line in lines if line["event"] == "irs_limits_projected"]
    assert [(line["level"], line["years"]) for line in warned] == [("WARNING", [2027])], lines
    assert [line for line in lines if line["level"] not in ("WARNING", "ERROR")] == []
    # the console: the warning's line only (no census, year or table lines: they are INFO)
    assert done.stdout.splitlines() == [warned[0]["message"]]
    # the same run at INFO prints the human-readable lines and logs every model, and the warning too
    done = planwise_command(run_args(tmp_path / "simulation.duckdb", small_census, "2027-2027"), tmp_path,
                            {"LOG_LEVEL": "INFO"})
    assert done.returncode == 0, done.stderr
    assert "census: " in done.stdout and "2027: " in done.stdout and warned[0]["message"] in done.stdout
    (summary_path,) = [p for p in (tmp_path / "artifacts" / "runs").glob("*/summary.json")
                       if json.loads(p.read_text())["db_path"] == str(tmp_path / "simulation.duckdb")]
    levels = {line["event"]: line["level"] for line in log_lines(json.loads(summary_path.read_text())["log_path"])}
    assert levels["irs_limits_projected"] == "WARNING" and levels["model_finished"] == levels["run_started"] == "INFO"


def test_unknown_log_level_exits_2_and_writes_nothing(tmp_path, small_census):
    done = planwise_command(run_args(tmp_path / "sim.duckdb", small_census), tmp_path, {"LOG_LEVEL": "LOUD"})
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("planwise: error: LOG_LEVEL='LOUD' is not a log level (fix: set LOG_LEVEL to one of")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def wait_for_event(path_glob, event: str, year: int, process, timeout: float = 300) -> None:
    """Block until the run's log holds `event` for `year` (the run is killed right after)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the run ended before {event} {year}: {process.communicate()}"
        for log in path_glob():
            if any(line["event"] == event and line.get("year") == year for line in log_lines(log)):
                return
        time.sleep(0.05)
    raise AssertionError(f"no {event} for {year} within {timeout}s")


def test_sigkill_in_the_third_year_leaves_a_running_summary_naming_two_years(tmp_path, small_census):
    db = tmp_path / "sim.duckdb"
    process = planwise_process(run_args(db, small_census, "2025-2027"), tmp_path)
    try:
        wait_for_event(lambda: (tmp_path / "logs").glob("*.jsonl"), "year_started", 2027, process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    summary = summary_of(tmp_path)
    assert summary["status"] == "running"
    assert summary["years_processed"] == [2025, 2026]
    lines = log_lines(summary["log_path"])  # every complete line parses
    assert [line["year"] for line in lines if line["event"] == "year_finished"] == [2025, 2026]
    assert "run_finished" not in {line["event"] for line in lines}


def test_sigusr1_shows_where_each_thread_is_and_the_run_goes_on(tmp_path, small_census):
    """`kill -USR1 PID` on a run that seems stuck: the stack of each of its threads on stderr, and it carries on."""
    process = planwise_process(run_args(tmp_path / "sim.duckdb", small_census, "2025-2026"), tmp_path)
    try:
        wait_for_event(lambda: (tmp_path / "logs").glob("*.jsonl"), "year_started", 2026, process)
        process.send_signal(signal.SIGUSR1)
        _, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "(most recent call first)" in stderr and "navigator_orchestrator/run/pipeline.py" in stderr, stderr
    assert summary_of(tmp_path)["years_processed"] == [2025, 2026]


@pytest.mark.parametrize("signum, code, words", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupted_run_writes_an_interrupted_summary_and_releases_the_lock(tmp_path, small_census, signum, code,
                                                                             words):
    db = tmp_path / "sim.duckdb"
    process = planwise_process(run_args(db, small_census, "2025-2027"), tmp_path)
    try:
        wait_for_event(lambda: (tmp_path / "logs").glob("*.jsonl"), "year_started", 2026, process)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    summary = summary_of(tmp_path)
    assert summary["status"] == "interrupted" and summary["exit_code"] == code
    assert summary["years_processed"] == [2025]
    assert words in summary["errors"][0] and summary["recovery"][0]["fix"]
    assert log_lines(summary["log_path"])[-1]["event"] == "run_finished"
    # the year that was running is not marked done; the one before it is
    assert sorted(p.name for p in checkpoint_dir(db).glob("*.done")) == ["year_2025.done"]
    # the lock was released: the next run on the database goes ahead at once
    done = planwise_command(run_args(db, small_census, "2025-2025", "--no-backup"), tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_failed_model_leaves_a_failed_summary_with_its_fix(tmp_path, small_census):
    project = copy_dbt_project(tmp_path)
    model = project / "models" / "intermediate" / "int_merit_events.sql"
    model.write_text(model.read_text() + "\nwhere no_such_column > 0\n")
    done = planwise_command(run_args(tmp_path / "sim.duckdb", small_census, "2025-2025", "--dbt-project", project),
                            tmp_path)
    assert done.returncode == 1
    assert "dbt run failed at model.planwise.int_merit_events" in done.stderr.splitlines()[0]
    summary = summary_of(tmp_path)
    assert SUMMARY_FIELDS <= set(summary)
    assert summary["status"] == "failed" and summary["years_processed"] == []
    assert "int_merit_events" in summary["recovery"][0]["error"] and summary["recovery"][0]["fix"]
    finished = {line["model"]: (line["status"], line["level"]) for line in log_lines(summary["log_path"])
                if line["event"] == "model_finished"}
    assert finished["int_merit_events"] == ("error", "ERROR")
    assert finished["fct_workforce_snapshot"] == ("skipped", "WARNING")  # downstream of the failure
    errors = [line for line in log_lines(summary["log_path"]) if line["event"] == "error"]
    assert errors and errors[0]["fix"]


def test_a_failed_pre_run_backup_leaves_a_failed_summary(tmp_path, small_census):
    db = tmp_path / "sim.duckdb"
    done = planwise_command(run_args(db, small_census, "2025-2025", "--no-backup"), tmp_path)
    assert done.returncode == 0, done.stderr
    first = set((tmp_path / "artifacts" / "runs").glob("*/summary.json"))
    done = planwise_command(run_args(db, small_census), tmp_path, {"PLANWISE_TEST_FAULT": "backup:enospc"})
    assert done.returncode == 1 and "pre-run backup failed" in done.stderr
    # the second run's own summary (run ids start with the second: two runs in one second sort by their suffix)
    (second,) = set((tmp_path / "artifacts" / "runs").glob("*/summary.json")) - first
    summary = json.loads(second.read_text())
    assert SUMMARY_FIELDS <= set(summary)
    assert summary["status"] == "failed" and summary["years_processed"] == []
    assert "no space left" in summary["recovery"][0]["error"]


def test_null_pay_hires_of_2026_stop_the_run_in_2026_with_the_failing_rows(tmp_path, small_census, planwise_run):
    clean = planwise_run(years="2025-2025", census=small_census, threads=1)
    assert clean.status == "success", clean.stderr
    project = copy_dbt_project(tmp_path)
    model = project / "models" / "intermediate" / "int_hiring_events.sql"
    text = model.read_text()
    pay, named = "least(greatest(", "}}) as compensation_amount"
    assert pay in text and named in text
    model.write_text(text.replace(pay, "CASE WHEN {{ sim_year() }} = 2026 AND hire_number % 7 = 0 THEN NULL ELSE "
                                       + pay, 1).replace(named, "}}) END as compensation_amount", 1))
    db = tmp_path / "sim.duckdb"
    done = planwise_command(run_args(db, small_census, "2025-2027", "--dbt-project", project), tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("planwise: error: quality gate null_comp_count failed for 2026: ") and "NH_2026_" in first
    assert "(fix: " in first
    summary = summary_of(tmp_path)
    assert summary["status"] == "failed" and summary["years_processed"] == [2025]
    failed = [c for c in summary["quality"]["2026"] if c["status"] != "pass"]
    assert [c["check"] for c in failed][:1] == ["null_comp_count"]
    with duckdb.connect(str(db), read_only=True) as con:
        count, sample = con.execute("select failing_count, sample from dq_results where year = 2026 "
                                    "and \"check\" = 'null_comp_count'").fetchone()
        assert count > 0 and "NH_2026_" in sample
        assert con.execute("select max(simulation_year) from fct_workforce_snapshot").fetchone()[0] == 2026
        built_2025 = marts_digest(con, 2025)
    with clean.connect() as con:
        assert built_2025 == marts_digest(con, 2025)  # 2025's rows are what a clean run gives
    logged = [line for line in log_lines(summary["log_path"]) if line["event"] == "quality_check"
              and line["check"] == "null_comp_count" and line["year"] == 2026]
    assert logged[0]["level"] == "ERROR" and any("NH_2026_" in str(row) for row in logged[0]["sample"])
