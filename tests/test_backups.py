"""Backups: seven runs leave five verified backups plus latest, a damaged backup fails `verify`,
restore gives back the backup's marts; disk full or an unwritable backup folder leave no partial backup and the
database byte-identical; a Hypothesis state machine drives create/rotate/verify/restore/corrupt.

Runs go through the real CLI in a subprocess (cwd=tmp_path); faults through the PLANWISE_TEST_FAULT hook of the
real copy code. Nothing is mocked; everything is written under tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,
                                 run_state_machine_as_test)

from navigator_orchestrator.safety import backup
from navigator_orchestrator.inputs.census import generate_census
from navigator_orchestrator.inputs.config import SimulationConfig, render_yaml
from navigator_orchestrator.safety.digest import MARTS, table_digest
from navigator_orchestrator.errors import BackupError
from navigator_orchestrator.safety.locking import run_lock
from pytest_planwise.commands import planwise_command

SMALL = dict(years="2025-2025", employees=300)


def cli(args: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return planwise_command(args, cwd, env)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def marts(path: Path) -> dict:
    """Digests of the marts the database holds (a hand-made database has only some)."""
    with duckdb.connect(str(path), read_only=True) as con:
        present = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        return {table: table_digest(con, table) for table in MARTS if table in present}


def flip_middle(path: Path, count: int = 64) -> None:
    """Invert `count` bytes in the middle of a file: what a bad disk sector does."""
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        data = handle.read(count)
        handle.seek(-len(data), os.SEEK_CUR)
        handle.write(bytes(b ^ 0xFF for b in data))


@pytest.fixture
def small_db(planwise_run, planwise_isolated_db, tmp_path) -> tuple[Path, list]:
    """A private copy of a 300-person one-year run, and the `run` arguments to simulate into it again."""
    run = planwise_run(**SMALL)
    assert run.status == "success", run.stderr
    db = planwise_isolated_db(run)
    config = tmp_path / "config.yaml"
    config.write_text(render_yaml())
    census = generate_census(300, 42, tmp_path / "census.parquet")
    return db, ["run", "--years", "2025-2025", "--census", census, "--db", db, "--config", config, "--threads", "2"]


def marker(path: Path) -> int:
    """The number of the run before which the database was marked (`mark`)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select run_number from backup_marker").fetchone()[0]


def mark(path: Path, run_number: int) -> None:
    """Give the database a content of its own before run `run_number`: each backup then holds a distinct one."""
    with duckdb.connect(str(path)) as con:
        con.execute("create or replace table backup_marker as select ? as run_number", [run_number])


def test_seven_runs_keep_five_verified_backups_and_restore_gives_the_backups_marts(small_db, tmp_path):
    db, run_args = small_db
    taken = []  # (run number, backup path its summary names, marts of the database it backed up)
    for number, seed in enumerate((1, 1, 1, 1, 2, 2, 2), 1):  # --resume: a repeated seed skips the year, but every
        mark(db, number)                                     # run backs up first, each a database of its own
        before = marts(db)
        done = cli([*run_args, "--seed", seed, "--resume"], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        summary = json.loads(Path(done.stdout.strip().rsplit("summary ", 1)[1]).read_text())
        assert summary["backup"]["status"] == "created"
        taken.append((number, Path(summary["backup"]["path"]), before))

    folder = db.parent / "backups"
    stamped = sorted(folder.glob("backup_2*.duckdb"))
    assert len(stamped) == 5 and (folder / backup.LATEST).is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [p.name for p in stamped] + [p.with_suffix(".json").name for p in stamped]
        + [backup.LATEST, "backup_latest.json"]), "a temp file or a stray manifest was left"
    assert stamped == [path for _, path, _ in taken[2:]], "rotation did not keep the newest five"
    # every kept backup is the database as it was before its own run: five distinct contents, none mixed up
    assert [marker(path) for path in stamped] == [3, 4, 5, 6, 7]
    assert marker(folder / backup.LATEST) == 7
    for _, path, before in taken[2:]:
        assert backup.verify_backup(path).manifest["database"] == db.name
        assert marts(path) == before, "a backup does not hold the database as it was before its run"
    assert json.loads((folder / "backup_latest.json").read_text())["copy_of"] == stamped[-1].name
    done = cli(["backup", "verify", "--db", db], cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.count("ok: ") == 6, done.stdout + done.stderr

    # a backup with bytes flipped in the middle fails verify, and cannot be restored
    damaged = stamped[-1]
    flip_middle(damaged)
    done = cli(["backup", "verify", damaged, "--db", db], cwd=tmp_path)
    assert done.returncode == 1 and "damaged" in done.stderr and "(fix: " in done.stderr, done.stderr
    done = cli(["backup", "verify", "--db", db], cwd=tmp_path)
    assert done.returncode == 1 and f"FAILED: {damaged.name}" in done.stdout and done.stdout.count("ok: ") == 5
    live = sha256(db)
    done = cli(["backup", "restore", damaged.name, "--db", db], cwd=tmp_path)
    assert done.returncode == 1 and sha256(db) == live, done.stderr

    # restore the oldest kept backup (the database before run 3, as seed 1 left it; the live one is seed 2's):
    # the live marts and marker equal the backup's.
    # Its pre-restore backup then rotates it out (strictly the newest five): its content is the live database.
    _, oldest, oldest_marts = taken[2]
    current = marts(db)
    assert oldest_marts != current, "the scenario needs a backup that differs from the live database"
    done = cli(["backup", "restore", oldest.name, "--db", db], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert marts(db) == oldest_marts and marker(db) == 3
    assert not db.with_name(db.name + ".wal").exists()
    previous = backup.list_backups(db)[-1]  # restore backed up the database it replaced first
    assert f"backed up as {previous.path}" in done.stdout and marts(previous.path) == current
    assert marker(previous.path) == 7
    assert len(backup.list_backups(db)) == 5


def test_restore_removes_a_stale_wal_and_moves_a_damaged_database_aside(tmp_path):
    db = tmp_path / "plain.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table fct_yearly_events as select range as simulation_year, 'x' || range as s "
                    "from range(50000)")
        con.execute("create table fct_workforce_snapshot as select range as simulation_year from range(10)")
    assert cli(["backup", "create", "--db", db], cwd=tmp_path).returncode == 0
    (original,) = backup.list_backups(db)
    saved = marts(db)

    with duckdb.connect(str(db)) as con:
        con.execute("delete from fct_workforce_snapshot")
    db.with_name(db.name + ".wal").write_bytes(os.urandom(4096))  # left behind by some crash
    done = cli(["backup", "restore", "--db", db], cwd=tmp_path)  # default: backup_latest.duckdb
    assert done.returncode == 0, done.stderr
    assert marts(db) == saved and not db.with_name(db.name + ".wal").exists()

    flip_middle(db, db.stat().st_size // 2)  # now the live database itself is damaged
    with pytest.raises(duckdb.Error, match="Corrupt"):
        marts(db)
    damaged_bytes = db.read_bytes()
    done = cli(["backup", "restore", original.path, "--db", db], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert marts(db) == saved
    (aside,) = (tmp_path / "backups").glob("damaged_*_plain.duckdb")
    assert aside.read_bytes() == damaged_bytes and f"moved to {aside}" in done.stdout


@pytest.mark.parametrize("fault", ["backup:enospc", "latest:enospc"])
def test_disk_full_leaves_no_partial_backup_and_the_database_untouched(small_db, tmp_path, fault):
    db, run_args = small_db
    assert cli(["backup", "create", "--db", db], cwd=tmp_path).returncode == 0
    folder = db.parent / "backups"
    before_files = {p.name: sha256(p) for p in folder.iterdir()}
    before = sha256(db)

    done = cli(run_args, cwd=tmp_path, PLANWISE_TEST_FAULT=fault)
    assert done.returncode == 1, done.stderr
    error = done.stderr.splitlines()[0]
    assert error.startswith("planwise: error: pre-run backup failed") and "no space left" in error
    assert "(fix: free space there" in error and "--no-backup" in error
    assert sha256(db) == before, "the live database changed"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temp file was left"
    for path in folder.glob("backup_*.duckdb"):  # whatever is named as a backup is complete and verifies
        backup.verify_backup(path)
    if fault == "backup:enospc":
        assert {p.name: sha256(p) for p in folder.iterdir()} == before_files
    summary = json.loads(Path(done.stderr.splitlines()[1].removeprefix("summary: ")).read_text())
    assert summary["status"] == "failed" and "no space left" in summary["errors"][0]
    with duckdb.connect(str(db), read_only=True) as con:
        assert summary["run_id"] not in {r for (r,) in con.execute("select run_id from run_metadata").fetchall()}


def test_unwritable_backup_folder_stops_the_run_and_no_backup_skips_it(small_db, tmp_path):
    db, run_args = small_db
    (db.parent / "backups").write_text("a file where the backup folder should be")
    before = sha256(db)
    done = cli(run_args, cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot write the backup folder" in done.stderr and "(fix: make" in done.stderr, done.stderr
    assert sha256(db) == before

    done = cli([*run_args, "--no-backup"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "backup: skipped (--no-backup)" in done.stdout
    summary = json.loads(Path(done.stdout.strip().rsplit("summary ", 1)[1]).read_text())
    assert summary["backup"] == {"status": "skipped", "reason": "--no-backup"}


# --- the state machine --------------------------------------------------------------------------------------


class BackupModel(RuleBasedStateMachine):
    """The live database is two small tables written with duckdb; the model keeps their rows and, per backup,
    the content it must hold and whether it was damaged. Checked after every step: at most `keep` backups, the
    same names as the model's, latest exists and verifies, the live digest equals the model's."""

    root: Path
    examples = 0

    @initialize(keep=st.integers(1, 3))
    def start(self, keep: int) -> None:
        type(self).examples += 1
        self.folder = self.root / f"example_{self.examples}"
        self.folder.mkdir()
        self.db = self.folder / "live.duckdb"
        self.keep = keep
        self.rows: dict[str, list[int]] = {"a": [], "b": []}
        self.backups: list[tuple[Path, dict, bool]] = []  # (path, content, intact), oldest first
        self.latest: dict | None = None
        self.ops = 0
        self.digests: dict[str, dict] = {}
        with duckdb.connect(str(self.db)) as con:
            con.execute("create table a (v bigint, label varchar)")
            con.execute("create table b (v bigint, label varchar)")

    def expected(self, rows: dict[str, list[int]]) -> dict:
        """Digests the model's rows must have, computed in memory (cached: invariants ask after every step)."""
        key = repr(sorted(rows.items()))
        if key not in self.digests:
            self.digests[key] = self.compute(rows)
        return self.digests[key]

    @staticmethod
    def compute(rows: dict[str, list[int]]) -> dict:
        with duckdb.connect() as con:
            for table, values in rows.items():
                con.execute(f"create table {table} (v bigint, label varchar)")
                if values:
                    con.executemany(f"insert into {table} values (?, 'row ' || ?::varchar)", [(v, v) for v in values])
            return backup.table_digests(con)

    def op_id(self) -> str:
        self.ops += 1
        return f"op-{self.ops}"

    @rule(table=st.sampled_from(["a", "b"]), values=st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=30))
    def write(self, table: str, values: list[int]) -> None:
        with duckdb.connect(str(self.db)) as con:
            con.executemany(f"insert into {table} values (?, 'row ' || ?::varchar)", [(v, v) for v in values])
        self.rows[table] += values

    @rule()
    def create(self) -> None:
        op = self.op_id()
        with run_lock(self.db, op, "test", echo=lambda line: None):
            made = backup.create_backup(self.db, op, self.keep)
        self.remember(made.path)

    def remember(self, path: Path) -> None:
        content = {t: list(v) for t, v in self.rows.items()}
        self.backups = (self.backups + [(path, content, True)])[-self.keep:]
        self.latest = content

    @precondition(lambda self: any(intact for _, _, intact in self.backups))
    @rule(data=st.data())
    def corrupt(self, data) -> None:  # an intact one: flipping the same bytes twice would repair it
        index = data.draw(st.sampled_from([i for i, (_, _, intact) in enumerate(self.backups) if intact]))
        path, content, _ = self.backups[index]
        flip_middle(path)
        self.backups[index] = (path, content, False)

    @precondition(lambda self: self.backups)
    @rule(data=st.data())
    def verify(self, data) -> None:
        path, content, intact = data.draw(st.sampled_from(self.backups))
        if intact:
            assert backup.verify_backup(path).tables == self.expected(content)
        else:
            with pytest.raises(BackupError, match="damaged"):
                backup.verify_backup(path)

    @precondition(lambda self: self.backups)
    @rule(data=st.data(), from_latest=st.booleans())
    def restore(self, data, from_latest: bool) -> None:
        if from_latest:  # latest is a copy of its own: damage to the backup it copies does not reach it
            path, content, intact = backup.latest_path(self.db), self.latest, True
        else:
            path, content, intact = data.draw(st.sampled_from(self.backups))
        op = self.op_id()
        if not intact:
            with pytest.raises(BackupError):
                backup.restore_backup(self.db, path, op, self.keep)
            return
        restored = backup.restore_backup(self.db, path, op, self.keep)
        assert restored.previous is not None and restored.set_aside is None
        self.remember(restored.previous.path)  # the database it replaced, backed up first
        self.rows = {t: list(v) for t, v in content.items()}

    @invariant()
    def backups_match_the_model(self) -> None:
        if not hasattr(self, "db"):
            return
        listed = backup.list_backups(self.db)
        assert len(listed) <= self.keep
        assert [b.path for b in listed] == [path for path, _, _ in self.backups]
        assert not list(self.folder.glob("backups/.*")), "a temp file was left"
        if self.latest is not None:
            assert backup.verify_backup(backup.latest_path(self.db)).tables == self.expected(self.latest)

    @invariant()
    def live_database_matches_the_model(self) -> None:
        if not hasattr(self, "db"):
            return
        with duckdb.connect(str(self.db), read_only=True) as con:
            assert backup.table_digests(con) == self.expected(self.rows)


def test_backup_state_machine(tmp_path):
    machine = type("Machine", (BackupModel,), {"root": tmp_path, "examples": 0})
    run_state_machine_as_test(machine, settings=settings(  # 15 machines; more when exploring
        max_examples=settings.default.max_examples * 3 // 20, stateful_step_count=8, deadline=None))
    assert machine.examples >= 1


def test_backup_keep_comes_from_the_config(tmp_path):
    """`backup create --config` applies that config's backup.keep (the default config keeps 5)."""
    db = tmp_path / "plain.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table t as select 1 as v")
    config = tmp_path / "keep2.yaml"
    config.write_text(render_yaml(SimulationConfig().with_overrides({"backup.keep": 2})))
    for _ in range(4):
        done = cli(["backup", "create", "--db", db, "--config", config], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert len(backup.list_backups(db)) == 2
    done = cli(["backup", "list", "--db", db], cwd=tmp_path)
    assert done.stdout.count("\n  backup_2") == 2 and "backup_latest.duckdb: copy of" in done.stdout


def test_a_backups_digests_are_each_tables_own_digest_taken_in_one_query():
    """What a backup records and compares (all tables in one query) is, table by table, digest.table_digest of that
    table, in name order, whatever the name (quotes included) and for an empty table too."""
    names = ["b", "a", "it's \"odd\"", "empty"]
    quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
    with duckdb.connect() as con:
        for i, name in enumerate(names):
            con.execute(f"create table {quoted[name]} (v bigint, label varchar)")
            for v in range(3 - i):
                con.execute(f"insert into {quoted[name]} values (?, ?)", [v, f"row {v}"])
        got = backup.table_digests(con)
        assert list(got) == sorted(names)
        assert got == {name: list(table_digest(con, quoted[name])) for name in names}
    assert got["empty"] == [0, 0] and len({tuple(d) for d in got.values()}) == len(names)
