"""dbt's speed-ups (`dbt_fast_paths`) are installed only on the verified dbt, each on its own, and never change a
result: a run with them off (by `PLANWISE_DBT_SPEEDUPS=off`, by another dbt version, by a symbol a dbt release
removed) succeeds, says which are off, and builds the same marts as the run with them on. Each run here is the
real CLI in a fresh child process, so the speed-ups are decided there, as for a user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.dbt_layer import dbt_fast_paths
from navigator_orchestrator.safety.digest import marts_digest
from navigator_orchestrator.environment import pinned_versions
from pytest_planwise.runs import census_file

YEARS = "2025-2026"
EMPLOYEES = 200


def cli(tmp_path: Path, args: list[str], env: dict[str, str] | None = None,
        prelude: str = "") -> subprocess.CompletedProcess:
    """`planwise <args>` in a new interpreter, after `prelude` (a fault put in place before the CLI starts)."""
    code = f"import sys\n{prelude}\nfrom navigator_orchestrator.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("DB_PATH", "PLANWISE_DB_PATH", dbt_fast_paths.SWITCH, "LOG_LEVEL")}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**environment, **(env or {})}, timeout=600)


def run_in(tmp_path: Path, planwise_root: Path, name: str, **options) -> tuple[subprocess.CompletedProcess, Path]:
    folder = tmp_path / name
    folder.mkdir()
    db = folder / "simulation.duckdb"
    done = cli(tmp_path, ["run", "--years", YEARS, "--seed", "42", "--threads", "2", "--db", str(db),
                          "--census", str(census_file(planwise_root, EMPLOYEES, 42))], **options)
    return done, db


def summary(db: Path) -> dict:
    [path] = (db.parent / "artifacts" / "runs").glob("*/summary.json")
    return json.loads(path.read_text())


def marts(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return marts_digest(con)


@pytest.fixture
def speedups_on(planwise_run):
    """The marts of the same run with every speed-up on (this environment is the verified one)."""
    run = planwise_run(years=YEARS, employees=EMPLOYEES, seed=42)
    assert run.status == "success", run.errors
    assert set(run.summary["dbt_speedups"].values()) == {"on"}, run.summary["dbt_speedups"]
    return marts(run.db_path)


def test_the_verified_versions_are_those_constraints_txt_pins():
    pins = pinned_versions()
    assert dbt_fast_paths.VERIFIED == {package: pins[package] for package in dbt_fast_paths.VERIFIED}
    assert dbt_fast_paths.version_mismatch() is None  # the suite runs on the verified dbt


def test_speedups_off_by_switch_build_the_same_marts(tmp_path, planwise_root, speedups_on):
    done, db = run_in(tmp_path, planwise_root, "off", env={dbt_fast_paths.SWITCH: "off"})
    assert done.returncode == 0, done.stderr
    assert set(summary(db)["dbt_speedups"]) == set(dbt_fast_paths.SPEEDUPS)
    assert all(state.startswith("off (PLANWISE_DBT_SPEEDUPS=off)") for state in summary(db)["dbt_speedups"].values())
    assert done.stdout.count("dbt speed-ups:") == 1, done.stdout  # said once, on the console
    assert marts(db) == speedups_on


def test_another_dbt_version_runs_dbt_as_shipped_and_builds_the_same_marts(tmp_path, planwise_root, speedups_on):
    """dbt-common's metadata says another version (a distribution found first on PYTHONPATH): every speed-up off."""
    shadow = tmp_path / "shadow" / "dbt_common-1.99.0.dist-info"
    shadow.mkdir(parents=True)
    (shadow / "METADATA").write_text("Metadata-Version: 2.1\nName: dbt-common\nVersion: 1.99.0\n")
    done, db = run_in(tmp_path, planwise_root, "other", env={"PYTHONPATH": str(shadow.parent)})
    assert done.returncode == 0, done.stderr
    reason = f"off (dbt-common 1.99.0 installed, speed-ups verified with {dbt_fast_paths.VERIFIED['dbt-common']})"
    assert summary(db)["dbt_speedups"] == {name: reason for name in dbt_fast_paths.SPEEDUPS}
    assert done.stdout.count("dbt speed-ups:") == 1 and "dbt-common 1.99.0" in done.stdout, done.stdout
    log = [json.loads(line) for path in (db.parent / "logs").glob("*.jsonl") for line in path.read_text().splitlines()]
    assert [entry["speedups"] for entry in log if entry["event"] == "dbt_speedups"] == [summary(db)["dbt_speedups"]]
    assert marts(db) == speedups_on


def test_a_symbol_a_dbt_release_removed_turns_off_that_speedup_only(tmp_path, planwise_root, speedups_on):
    prelude = "import dbt_common.events.base_types as types\ndel types.msg_from_base_event"
    done, db = run_in(tmp_path, planwise_root, "removed", prelude=prelude)
    assert done.returncode == 0, done.stderr
    states = summary(db)["dbt_speedups"]
    assert states.pop("events").startswith("off (AttributeError"), states
    assert set(states.values()) == {"on"}
    assert "events off" in done.stdout
    assert marts(db) == speedups_on


def test_an_unknown_speedup_name_is_bad_input_and_touches_nothing(tmp_path):
    done = cli(tmp_path, ["run", "--years", YEARS, "--db", str(tmp_path / "x.duckdb")],
               env={dbt_fast_paths.SWITCH: "templates,warp_drive"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "planwise: error: PLANWISE_DBT_SPEEDUPS='templates,warp_drive': unknown speed-up warp_drive (fix: set it to "
        f"on, off, or a comma-separated list of {', '.join(dbt_fast_paths.SPEEDUPS)})"]
    assert list(tmp_path.iterdir()) == []


def test_an_unexpected_exception_is_a_clean_failed_run(tmp_path, planwise_root):
    """A real fault (dbt's runner gone, as a broken installation leaves it): summary failed, the traceback in the
    run log, one line on stderr naming the log, exit 1, and the database's lock released."""
    done, db = run_in(tmp_path, planwise_root, "broken", prelude="import dbt.cli.main\ndel dbt.cli.main.dbtRunner")
    assert done.returncode == 1, done.stderr
    record = summary(db)
    assert record["status"] == "failed" and record["exit_code"] == 1
    [log] = (db.parent / "logs").glob("*.jsonl")
    assert record["errors"][0].startswith("unexpected error: ImportError: cannot import name 'dbtRunner' from "
                                          "'dbt.cli.main'"), record["errors"]
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("planwise: error: unexpected error: ImportError: cannot import name 'dbtRunner'")
    assert f"the traceback is in {log}" in lines[0] and "Traceback" not in done.stderr
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    [unexpected] = [entry for entry in entries if entry["event"] == "unexpected_error"]
    assert "Traceback (most recent call last)" in unexpected["traceback"] and "dbt_runner.py" in unexpected["traceback"]
    assert entries[-1]["event"] == "run_finished" and entries[-1]["status"] == "failed"
    again = cli(tmp_path, ["check", "--db", str(db)])  # the lock is free: check takes it (and finds no simulation)
    assert again.returncode == 2 and "holds no simulation" in again.stderr, again.stderr
