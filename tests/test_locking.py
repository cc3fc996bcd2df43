"""The run lock: a second run or restore on a database in use fails at once naming the holder's pid
and run id; other databases proceed; a lock left by a dead process is taken over; DuckDB's own lock error reads
the same way; a process killed during a backup leaves no partial file named as a backup and a usable latest.

Every command is the real CLI in a subprocess (cwd=tmp_path); nothing is mocked; everything under tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.safety import backup
from navigator_orchestrator.inputs.census import generate_census
from navigator_orchestrator.inputs.config import render_yaml
from navigator_orchestrator.safety.digest import marts_digest
from navigator_orchestrator.errors import LockError
from navigator_orchestrator.safety.locking import lock_path, run_lock
from pytest_planwise.commands import command_environment, planwise_command, planwise_process


def cli(args: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return planwise_command(args, cwd, env)


def start(args: list, cwd: Path, **env: str) -> subprocess.Popen:
    """A child started by exec, whose stderr the test reads line by line while it runs (a fork server child's
    output is read whole, once it has ended)."""
    return subprocess.Popen([sys.executable, "-m", "navigator_orchestrator.cli", *map(str, args)], cwd=cwd,
                            env=command_environment(env), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_args(tmp_path: Path, db: Path, employees: int = 300, years: str = "2025-2025") -> list:
    config = tmp_path / "config.yaml"
    if not config.exists():
        config.write_text(render_yaml())
    census = tmp_path / f"census_{employees}.parquet"
    if not census.exists():
        generate_census(employees, 42, census)
    return ["run", "--years", years, "--census", census, "--db", db, "--config", config, "--threads", "2"]


def wait_for_holder(db: Path, pid: int, timeout: float = 120) -> dict:
    """The lock file's record once process `pid` holds the lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            holder = json.loads(lock_path(db).read_text())
            if holder.get("pid") == pid:
                return holder
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never took the lock of {db}")


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if not line.startswith("summary: ")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("planwise: error: "), lines[0]
    return lines[0]


def plain_db(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select range as v from range(1000)")
    return path


def test_a_second_run_on_the_same_database_fails_fast_naming_the_first(planwise_run, planwise_isolated_db, tmp_path):
    base = planwise_run(years="2025-2029", employees=5000)
    assert base.status == "success", base.stderr
    db = planwise_isolated_db(base)
    args = run_args(tmp_path, db, employees=5000, years="2025-2029")
    first = planwise_process(args, tmp_path)
    try:
        holder = wait_for_holder(db, first.pid)
        second = cli(args, tmp_path)
        # failed at once: it did not wait for the lock, which the first run still holds now that the second ended
        still_held = json.loads(lock_path(db).read_text() or "{}")
        assert first.poll() is None, "the first run ended before the second tried: no overlap was tested"
        assert (still_held.get("pid"), still_held.get("run_id")) == (first.pid, holder["run_id"]), still_held
        assert second.returncode == LockError.exit_code == 75
        line = one_error_line(second)
        assert f"pid {first.pid}" in line and holder["run_id"] in line and "planwise run" in line, line
        assert "(fix: wait for it to finish or stop it with `kill " in line
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    summary = json.loads(Path(out.strip().rsplit("summary ", 1)[1]).read_text())
    assert summary["run_id"] == holder["run_id"] and summary["backup"]["status"] == "created"
    print(f"backup of the 5,000-person 5-year database: {summary['backup']['seconds']}s, "
          f"{summary['backup']['size'] / 1e6:.1f} MB")
    with duckdb.connect(str(db), read_only=True) as con:
        assert all(count > 0 for count, _ in marts_digest(con).values())
        assert con.execute("select run_id from run_metadata order by started_at desc limit 1").fetchone()[0] == \
            holder["run_id"]
    assert lock_path(db).read_text() == "", "the lock file still names a holder"


def test_the_holder_is_named_and_other_databases_proceed(tmp_path):
    folder = tmp_path / "dbs"
    folder.mkdir()
    held, other = plain_db(folder / "held.duckdb"), folder / "simulation.duckdb"  # a name parsed already
    with run_lock(held, "20250101_000000-testtest", "pytest", echo=print):
        for args in (["backup", "create", "--db", held], ["backup", "restore", "--db", held],
                     run_args(tmp_path, held)):
            done = cli(args, tmp_path)  # this process holds the lock throughout: one that waited would never end
            assert done.returncode == 75, done.stderr
            line = one_error_line(done)
            assert f"pid {os.getpid()}" in line and "20250101_000000-testtest" in line and "pytest" in line
            holder = json.loads(lock_path(held).read_text())  # the failed command left the holder's record alone
            assert (holder["pid"], holder["run_id"]) == (os.getpid(), "20250101_000000-testtest"), holder
        before = hashlib.sha256(held.read_bytes()).hexdigest()
        # another database in the same folder: its run (and its backups) proceed while `held` is locked
        done = cli(run_args(tmp_path, other), tmp_path)
        assert done.returncode == 0, done.stderr
        done = cli(run_args(tmp_path, other), tmp_path)
        assert done.returncode == 0 and "backup: " in done.stdout, done.stderr
    assert hashlib.sha256(held.read_bytes()).hexdigest() == before
    assert [b.manifest["database"] for b in backup.list_backups(other)] == ["simulation.duckdb"]
    assert backup.list_backups(held) == []


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    db = plain_db(tmp_path / "sim.duckdb")
    # a stale file naming a process that no longer exists
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path(db).write_text(json.dumps({"pid": dead.pid, "run_id": "20250101_000000-deadbeef"}))
    done = cli(["backup", "create", "--db", db], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"took over sim.duckdb.lock left by run 20250101_000000-deadbeef (pid {dead.pid}, no longer running)" \
        in done.stdout

    # a holder killed with SIGKILL: the kernel releases its flock, the next command takes the lock
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from navigator_orchestrator.safety.locking import run_lock\n"
        f"with run_lock(Path({str(db)!r}), 'killed-run', 'pytest'):\n    time.sleep(600)")])
    try:
        wait_for_holder(db, holder.pid, timeout=60)
        assert cli(["backup", "create", "--db", db], tmp_path).returncode == 75
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    finally:
        holder.kill()
    done = cli(["backup", "create", "--db", db], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"left by run killed-run (pid {holder.pid}, no longer running)" in done.stdout


def test_duckdb_lock_error_is_reported_like_a_held_lock(tmp_path):
    db = plain_db(tmp_path / "sim.duckdb")
    with duckdb.connect(str(db)):  # another program (this test process) has the database open for writing
        for args in (["backup", "create", "--db", db], [*run_args(tmp_path, db), "--no-backup"],
                     run_args(tmp_path, db)):
            done = cli(args, tmp_path)
            assert done.returncode == 75, done.stderr
            line = one_error_line(done)
            assert f"(pid {os.getpid()}), DuckDB could not lock it" in line, line
            assert f"(fix: close that program (or `kill {os.getpid()}`)" in line
            assert "Could not set lock" not in line


@pytest.mark.parametrize("role", ["backup", "latest"])
def test_killed_during_a_backup_leaves_no_partial_backup_and_a_usable_latest(
        planwise_run, planwise_isolated_db, tmp_path, role):
    run = planwise_run(years="2025-2025", employees=300)
    db = planwise_isolated_db(run)
    assert cli(["backup", "create", "--db", db], tmp_path).returncode == 0
    folder = db.parent / "backups"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    latest_before = hashlib.sha256((folder / backup.LATEST).read_bytes()).hexdigest()

    victim = start(run_args(tmp_path, db), tmp_path, PLANWISE_TEST_FAULT=f"{role}:pause")
    try:
        line = victim.stderr.readline()  # the hook says where it paused, then sleeps
        assert line.startswith("planwise: test fault: paused writing"), line + victim.stderr.read()
        assert list(folder.glob(".*.part")), "the pause should be mid-copy, in a temp file"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    finally:
        victim.kill()
    assert victim.returncode == -signal.SIGKILL

    for path in folder.glob("backup_*.duckdb"):  # everything named as a backup has its manifest and verifies
        backup.verify_backup(path)
    assert len(backup.list_backups(db)) == (1 if role == "backup" else 2)
    assert hashlib.sha256((folder / backup.LATEST).read_bytes()).hexdigest() == latest_before
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, "the killed run changed the database"
    done = cli(["backup", "verify", "--db", db], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    done = cli(["backup", "create", "--db", db], tmp_path)  # takes the dead run's lock, clears its temp file
    assert done.returncode == 0, done.stderr
    assert f"pid {victim.pid}, no longer running" in done.stdout
    assert not list(folder.glob(".*")), "the killed backup's temp file is still there"
