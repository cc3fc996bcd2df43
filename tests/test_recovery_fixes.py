"""RECOVERY.md's fixes work as written: for every row of its table, and every command block of its Full reset,
Targeted fixes and Backups by hand sections, a test produces the symptom for real, asserts its text, runs the
fix commands read from RECOVERY.md itself (never retyped here) from a project root, and checks that the symptom is
gone. A command that is `planwise ...`, `dbt ...` or `cd DIR`, or several of them joined by `&&`, with no shell
syntax but single quotes (`cd dbt && dbt run --vars '{simulation_year: 2026}'`), runs as bash would run it: one
child of the tests' fork server after the other, each with the arguments bash would give it (shlex), the folder
the `cd`s lead to and the same environment, stopping at the first that fails. Each is a real process with its own
pid and signals (`dbt` the interpreter's console script), without the 2 s dbt import. Every other command
(`unset X && planwise ...`, `kill N`, `rm`, `mv`, `chmod`, `df`) runs in bash, so the installed `planwise` script
runs here too.

The project root is a private copy under tmp_path: navigator_orchestrator/, config/, the dbt project as dbt/, and
data/census_default.parquet (a 200-person census in place of the bundled 5,000-person one). PYTHONPATH puts the
copy's package first, so its `paths.PROJECT_ROOT` is the copy: `planwise run --years 2025-2029` with no other
argument uses the copy's default database dbt/simulation.duckdb, config, census and dbt project, exactly as a
user in the checkout would; plain dbt from dbt/ reads ./simulation.duckdb there (no DB_PATH is set, as in a
checkout without .env). So dbt's profile is the same in every copy, and the template's dbt/target (plain dbt's
parse state, made once with `dbt parse --vars '{simulation_year: 2026}'`, the year most fixes name) lets a copy's
plain dbt parse only what its test changed, as a user's second dbt command would, instead of the whole project.
Real CLI and dbt processes, real DuckDB files, real signals; faults only through the existing test hooks
(PLANWISE_TEST_FAULT, PLANWISE_TEST_KILL).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.inputs import paths
from navigator_orchestrator.safety.digest import year_digests
from navigator_orchestrator.safety.locking import file_lock
from pytest_planwise.commands import planwise_command, planwise_process
from pytest_planwise.runs import census_file
from support.commands import ForkedProcess, copy_dbt_project, dbt_command

pytestmark = pytest.mark.slow

RECOVERY = paths.PROJECT_ROOT / "RECOVERY.md"
BIN = Path(sys.executable).parent
YEARS = [2025, 2026, 2027, 2028, 2029]
DB = Path("dbt/simulation.duckdb")
CHECKPOINTS = Path("dbt/.checkpoints/simulation.duckdb")
# the executables a fix names; any other backticked span of a Fix cell (`NAME=...`, a file name) is not a command
EXECUTABLES = ("planwise ", "cd dbt && ", "kill ", "chmod ", "df ", "rm ", "mv ", "unset ")
# a simple command bash would not expand: words of these characters and single-quoted strings, one space apart
SIMPLE = re.compile(r"(?:'[^']*'|[\w./:=+,@%-])+(?: (?:'[^']*'|[\w./:=+,@%-])+)*")
_DROPPED = ("DB_PATH", "PLANWISE_DB_PATH", "LOG_LEVEL", "PLANWISE_TEST_FAULT", "PLANWISE_TEST_KILL", "PYTHONPATH")


# --- RECOVERY.md, read -------------------------------------------------------------------------------------------

def table_rows() -> list[tuple[str, str, str]]:
    """(symptom, meaning, fix) of every row of the table."""
    rows = []
    for line in RECOVERY.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| Symptom"):
            cells = line.strip().strip("|").split(" | ")
            assert len(cells) == 3, f"a row must have three cells: {line}"
            rows.append(tuple(cell.strip() for cell in cells))
    return rows


def row(symptom: str) -> tuple[str, str, str]:
    matching = [r for r in table_rows() if symptom in r[0]]
    assert len(matching) == 1, f"{len(matching)} rows have {symptom!r} in their symptom"
    return matching[0]


def fix_commands(symptom: str) -> list[str]:
    """The commands of the row's Fix cell, in order: its backticked spans that start with an executable."""
    return [span for span in re.findall(r"`([^`]+)`", row(symptom)[2]) if span.startswith(EXECUTABLES)]


def fix(symptom: str, prefix: str) -> str:
    """The one fix command of the row that starts with `prefix` (a test names the command it runs)."""
    found = [command for command in fix_commands(symptom) if command.startswith(prefix)]
    assert len(found) == 1, f"{symptom!r}: {len(found)} fix commands start with {prefix!r}: {fix_commands(symptom)}"
    return found[0]


def section_blocks(heading: str) -> list[list[str]]:
    """The command lines of each fenced block of a `## heading` section (comments after `  #` dropped)."""
    text = RECOVERY.read_text(encoding="utf-8")
    body = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", body, flags=re.S)
    return [[re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines() if line.strip()]
            for block in blocks]


def as_written(command: str, **placeholders: str) -> str:
    """The command with the page's example values (a pid N, an example backup name) replaced by the real ones;
    each placeholder must be in the command, so the test runs what the page shows and nothing else."""
    for example, real in placeholders.items():
        example = {"N": r"\bN\b"}.get(example, re.escape(example))
        assert re.search(example, command), f"{example!r} is not in {command!r}"
        command = re.sub(example, real, command)
    return command


# --- the project root and its commands --------------------------------------------------------------------------

def environment(project: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    return {**base, "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}", "PYTHONPATH": str(project),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "PYTHONUNBUFFERED": "1",
            **(extra or {})}


def simple_commands(command: str) -> list[list[str]] | None:
    """The words of each command of `a && b && ...` when every one is `planwise ...`, `dbt ...` or `cd DIR` with
    no shell syntax (SIMPLE), split as bash splits them; else None (bash runs it)."""
    steps = []
    for part in command.split(" && "):
        words = shlex.split(part) if SIMPLE.fullmatch(part) else []
        if not words or words[0] not in ("planwise", "dbt", "cd") or (words[0] == "cd" and len(words) != 2):
            return None
        steps.append(words)
    return steps


def planwise_argv(command: str) -> list[str] | None:
    """The arguments of a command that is one `planwise` invocation; else None."""
    steps = simple_commands(command)
    return steps[0][1:] if steps and len(steps) == 1 and steps[0][0] == "planwise" else None


def sh(project: Path, command: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """`command` from the project root, as a user types it (see the module docstring)."""
    steps = simple_commands(command)
    if steps is None:
        return subprocess.run(["bash", "-c", command], cwd=project, env=environment(project, env),
                              capture_output=True, text=True, timeout=timeout)
    folder, outputs = project, ["", ""]
    for words in steps:
        if words[0] == "cd":
            folder = folder / words[1]
            assert folder.is_dir(), f"{command!r}: there is no folder {words[1]} to cd into"
            continue
        run = planwise_command if words[0] == "planwise" else dbt_command
        done = run(words[1:], folder, environment(project, env), timeout=timeout)
        outputs = [outputs[0] + done.stdout, outputs[1] + done.stderr]
        if done.returncode != 0:
            return subprocess.CompletedProcess(command, done.returncode, *outputs)
    return subprocess.CompletedProcess(command, 0, *outputs)


def start(project: Path, command: str, **env: str) -> ForkedProcess:
    """A `planwise` command in the background: the process is the command itself, to signal it."""
    argv = planwise_argv(command)
    assert argv is not None, f"not one planwise command: {command!r}"
    return planwise_process(argv, project, environment(project, env))


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def failed(done: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """The command failed with `code` and its one error line has every fragment; returns stderr."""
    assert done.returncode == code, f"exit {done.returncode}, expected {code}\n{done.stdout[-2000:]}\n{done.stderr}"
    for fragment in fragments:
        assert fragment in done.stderr, f"{fragment!r} not in stderr:\n{done.stderr}"
    return done.stderr


def decisions(stdout: str) -> dict[int, str]:
    """{year: 'skipped (...)' or 'rebuilt (...)'} from the lines `--resume` prints."""
    return {int(m[1]): m[2] for m in re.finditer(r"^(\d{4}): ((?:skipped|rebuilt) \(.*\))$", stdout, re.M)}


def all_skipped(stdout: str) -> bool:
    return decisions(stdout) == {year: "skipped (checkpoint verified)" for year in YEARS}


def digests(project: Path, years=YEARS) -> dict:
    with duckdb.connect(str(project / DB), read_only=True) as con:
        return year_digests(con, list(years))


def sql(project: Path, statement: str) -> None:
    """A change made by hand (a script, a DuckDB shell): what the symptom needs."""
    with duckdb.connect(str(project / DB)) as con:
        con.execute(statement)


def done_years(project: Path) -> list[int]:
    return sorted(int(p.name[5:9]) for p in (project / CHECKPOINTS).glob("year_*.done"))


def backups(project: Path) -> list[Path]:
    return sorted((project / "dbt" / "backups").glob("backup_2*.duckdb"))


def new_log(project: Path, before: set[Path]) -> Path:
    (log,) = set((project / "dbt" / "logs").glob("run_*.jsonl")) - before
    return log


def events(log: Path) -> list[dict]:
    text = log.read_text()
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    return [json.loads(line) for line in lines]


def wait_for_event(project: Path, before: set[Path], process: ForkedProcess, event: str, year: int) -> None:
    deadline = time.monotonic() + 300
    while True:
        logs = set((project / "dbt" / "logs").glob("run_*.jsonl")) - before
        if any(e["event"] == event and e.get("year") == year for log in logs for e in events(log)):
            return
        assert process.poll() is None, f"the run ended before {event} {year}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {event} {year} within 300 s"
        time.sleep(0.05)


def edit(path: Path, old: str, new: str) -> str:
    """Replace `old` (present exactly once) in a file; returns the original text, to put back as the fix."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))
    return text


@pytest.fixture(scope="module")
def template(planwise_root) -> dict:
    """A project root with a completed 5-year run of 200 people (its checkpoints) and three backups: the
    oldest holds 2025-2027 only (the run was extended with --resume), the other two the 5-year database; and
    plain dbt's parse state in dbt/target (see the module docstring).
    Built once per session under the session root (the first xdist worker builds it, the others wait)."""
    root = planwise_root / "recovery_template"
    with file_lock(planwise_root / "recovery_template.lock"):
        if not (root / "digests.json").exists():
            shutil.rmtree(root, ignore_errors=True)
            _build_template(root, planwise_root)
            (root / "digests.json").write_text(json.dumps(digests(root)))
    stored = json.loads((root / "digests.json").read_text())
    return {"root": root, "digests": {int(year): tables for year, tables in stored.items()}}


def _build_template(root: Path, planwise_root: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(paths.PROJECT_ROOT / "navigator_orchestrator", root / "navigator_orchestrator", ignore=ignore)
    shutil.copytree(paths.PROJECT_ROOT / "config", root / "config", ignore=ignore)
    shutil.copy(paths.PROJECT_ROOT / ".env.example", root / ".env.example")
    copy_dbt_project(root).rename(root / "dbt")
    (root / "data").mkdir()
    shutil.copy(census_file(planwise_root, 200, 42), root / "data" / "census_default.parquet")
    where = ok(sh(root, "python -c 'from navigator_orchestrator.inputs import paths; print(paths.DEFAULT_DB)'"))
    assert where.stdout.strip() == str(root / DB), "the copy's package is not the one imported"
    ok(sh(root, "planwise run --years 2025-2027"))
    ok(sh(root, "planwise run --years 2025-2029 --resume"))
    ok(sh(root, "planwise backup create"))
    ok(sh(root, "planwise backup create"))
    assert len(backups(root)) == 3 and done_years(root) == YEARS
    ok(sh(root, "cd dbt && dbt parse --vars '{simulation_year: 2026}'"))


@pytest.fixture
def project(template, tmp_path) -> Path:
    """This test's copy of the template project root (database, checkpoints, backups, logs)."""
    copy = tmp_path / "project"
    shutil.copytree(template["root"], copy)
    return copy


def assert_complete(project: Path, template: dict) -> None:
    """Every year is back as the uninterrupted run built it, checkpointed, and passes `planwise check`."""
    assert digests(project) == template["digests"]
    assert done_years(project) == YEARS
    ok(sh(project, "planwise check"))


# --- the table's rows --------------------------------------------------------------------------------------------

def test_database_in_use_by_a_run(project, template):
    """A second command while a run holds the lock fails with 75 naming its pid; `kill N` stops the holder
    (interrupted, lock released) and the resume completes the work."""
    symptom = "is in use by planwise run"
    lock = project / "dbt" / "simulation.duckdb.lock"
    before = set((project / "dbt" / "logs").glob("run_*.jsonl"))
    holder = start(project, "planwise run --years 2025-2029")
    try:  # past the pre-run backup, in dbt: a SIGTERM inside the backup's digest query is another story
        wait_for_event(project, before, holder, "year_started", 2025)
        resume = fix(symptom, "planwise run")
        stderr = failed(sh(project, resume), 75, symptom, f"(pid {holder.pid}, since ")
        pid = re.search(r"\(pid (\d+), since", stderr)[1]
        assert holder.poll() is None, "the holder ended before the second command: no overlap was tested"
        ok(sh(project, as_written(fix(symptom, "kill "), N=pid)))
        holder.wait(timeout=120)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert holder.returncode == 143, holder.communicate()
    assert lock.read_text() == "", "the stopped run still names itself in the lock"
    ok(sh(project, resume))
    assert_complete(project, template)


def test_database_open_in_another_program(project, template):
    """A real DuckDB connection in another process: 75 naming that process; `kill N`, then the resume runs."""
    symptom = "DuckDB could not lock it"
    other = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\n"
                              f"con = duckdb.connect({str(project / DB)!r})\nprint('open', flush=True)\n"
                              "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "open"
        resume = fix(symptom, "planwise run")
        stderr = failed(sh(project, resume), 75, symptom)
        pid = re.search(r"is open in \S+ \(pid (\d+)\), DuckDB could not lock it", stderr)[1]
        assert int(pid) == other.pid
        ok(sh(project, as_written(fix(symptom, "kill "), N=pid)))
        other.wait(timeout=60)
    finally:
        other.kill()
    done = ok(sh(project, resume))
    assert all_skipped(done.stdout), done.stdout  # nothing had changed: every year is proven
    assert_complete(project, template)


def test_lock_left_by_a_killed_run_is_taken_over(project, template):
    """A run SIGKILLed mid-way (after it proved 2027, lock held) leaves its name in the lock file; the next
    command takes it over and says so, `planwise backup verify` passes and the resume finishes the run."""
    symptom = "lock: took over simulation.duckdb.lock"
    killed = sh(project, "planwise run --years 2025-2029 --resume", PLANWISE_TEST_KILL="year_finished:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    holder = json.loads((project / "dbt" / "simulation.duckdb.lock").read_text())
    commands = fix_commands(symptom)
    assert [c.split()[:2] for c in commands] == [["planwise", "backup"], ["planwise", "run"]], commands
    verify = ok(sh(project, commands[0]))
    assert "ok: backup_latest.duckdb" in verify.stdout
    resumed = ok(sh(project, commands[1]))
    assert (f"lock: took over simulation.duckdb.lock left by run {holder['run_id']} (pid {holder['pid']}, "
            "no longer running)") in resumed.stdout
    assert all_skipped(resumed.stdout), resumed.stdout
    again = ok(sh(project, "planwise check"))
    assert "took over" not in again.stdout
    assert_complete(project, template)


def test_disk_full_during_the_pre_run_backup(project, template):
    """The backup copy fails with ENOSPC (the test hook): the run does not start and the database is unchanged.
    `--no-backup` works while the disk is still full; after freeing space the plain resume backs up again."""
    symptom = "no space left on the disk of dbt/backups"
    before = (project / DB).read_bytes()
    stderr = failed(sh(project, "planwise run --years 2025-2029", PLANWISE_TEST_FAULT="backup:enospc"), 1,
                    "pre-run backup failed, the run did not start: no space left on the disk of "
                    f"{project / 'dbt' / 'backups'}")
    assert "`planwise run --no-backup`" in stderr
    assert (project / DB).read_bytes() == before and not list((project / "dbt" / "backups").glob(".*.part"))

    skip = ok(sh(project, fix(symptom, "planwise run --years 2025-2029 --no-backup"),
                 PLANWISE_TEST_FAULT="backup:enospc"))
    assert "backup: skipped (--no-backup)" in skip.stdout and all_skipped(skip.stdout)
    assert "Filesystem" in ok(sh(project, fix(symptom, "df -h"))).stdout
    assert "backups of " in ok(sh(project, fix(symptom, "planwise backup list"))).stdout
    count = len(backups(project))
    again = ok(sh(project, fix(symptom, "planwise run --years 2025-2029 --resume")))  # space freed: no fault
    assert "backup: " in again.stdout and len(backups(project)) == count + 1
    assert_complete(project, template)


UNWRITABLE = ["a file named backups"] + (["a read-only folder"] if os.geteuid() != 0 else [])  # root ignores modes


@pytest.mark.parametrize("cause", UNWRITABLE)
def test_backup_folder_not_writable(project, template, cause):
    """The backup folder cannot be written: nothing changes; `--no-backup` runs anyway, and after the folder's
    fix `planwise backup create` works."""
    symptom = "cannot write the backup folder dbt/backups"
    folder = project / "dbt" / "backups"
    if cause == "a file named backups":
        shutil.rmtree(folder)
        folder.write_text("not a folder")
        repair, reason = fix(symptom, "mv "), "File exists"
    else:
        folder.chmod(0o555)
        repair, reason = fix(symptom, "chmod "), "Permission denied"
    before = (project / DB).read_bytes()
    failed(sh(project, "planwise run --years 2025-2029 --resume"), 1,
           f"cannot write the backup folder {folder}: {reason}")
    assert (project / DB).read_bytes() == before
    ok(sh(project, fix(symptom, "planwise run --years 2025-2029 --no-backup")))
    ok(sh(project, repair))
    made = ok(sh(project, fix(symptom, "planwise backup create")))
    assert f"backup: {folder}/backup_" in made.stdout
    assert_complete(project, template)


def test_missing_required_environment_variable(project, template):
    """environment.required names a variable nobody set: exit 2; once `.env` sets it the same command runs."""
    symptom = "missing required environment variable NAME"
    edit(project / "config" / "simulation_config.yaml", "  required: []", "  required: [PLANWISE_RECOVERY_TOKEN]")
    command = fix(symptom, "planwise run")
    failed(sh(project, command), 2, "missing required environment variable PLANWISE_RECOVERY_TOKEN "
                                     "(environment.required in ")
    assert "`NAME=...`" in row(symptom)[2]
    (project / ".env").write_text("PLANWISE_RECOVERY_TOKEN=change-me\n")  # the row's `NAME=...` in .env
    done = ok(sh(project, command))
    assert all_skipped(done.stdout)  # environment.required is not a simulated value: every year is proven
    assert_complete(project, template)


def test_restore_an_earlier_state(project, template):
    """A mistaken change (rows deleted by hand); list, verify, restore the latest, then a named backup: each
    restore gives back the backed-up database, and removes a stale `.wal`."""
    symptom = "You need an earlier state of the database"
    sql(project, "delete from fct_workforce_snapshot where simulation_year = 2029")
    assert digests(project) != template["digests"]
    listing = ok(sh(project, fix(symptom, "planwise backup list")))
    assert all(path.name in listing.stdout for path in backups(project))
    assert ok(sh(project, fix(symptom, "planwise backup verify"))).stdout.count("ok: ") == len(backups(project)) + 1
    latest = fix_commands(symptom)[2]  # by index: the named restore starts the same way
    assert latest == "planwise backup restore"
    ok(sh(project, latest))
    assert digests(project) == template["digests"]

    sql(project, "delete from fct_yearly_events where simulation_year = 2027")
    (project / "dbt" / "simulation.duckdb.wal").write_bytes(b"stale")
    chosen = backups(project)[1]  # a backup of the 5-year database (the oldest holds 2025-2027)
    named = as_written(fix_commands(symptom)[3], **{"backup_20261126_101500.duckdb": chosen.name})
    assert named == f"planwise backup restore {chosen.name}"
    ok(sh(project, named))
    assert not (project / "dbt" / "simulation.duckdb.wal").exists()
    assert_complete(project, template)


def damage_header(project: Path) -> None:
    """A torn write over the file's header and first blocks."""
    with (project / DB).open("r+b") as handle:
        handle.write(b"\0garbage" * 4096)


def test_corrupt_database(project, template):
    """DuckDB cannot read the live file: the pre-run backup says so; restore moves the damaged file aside."""
    symptom = "exists, but it is not a valid DuckDB database file!"
    damage_header(project)
    failed(sh(project, "planwise run --years 2025-2029 --resume"), 1,
           f"pre-run backup failed, the run did not start: cannot read {project / DB} to back it up: IO Error: "
           f'The file "{project / DB}" exists, but it is not a valid DuckDB database file!',
           "planwise backup restore --db ")
    restored = ok(sh(project, fix(symptom, "planwise backup restore")))
    assert "could not be read; it was moved to" in restored.stdout
    assert list((project / "dbt" / "backups").glob("damaged_*_simulation.duckdb"))
    done = ok(sh(project, fix(symptom, "planwise run")))
    assert all_skipped(done.stdout)  # the latest backup is the checkpointed database
    assert_complete(project, template)


def test_database_error_during_a_run(project, template):
    """With --no-backup nothing reads the file before the run writes it: DuckDB's error is `database error:`, and
    `planwise check` reports the same way (one line, not a traceback)."""
    symptom = "`database error: ...` during a run"
    damage_header(project)
    failed(sh(project, "planwise run --years 2025-2029 --no-backup"), 1, "planwise: error: database error: ")
    stderr = failed(sh(project, "planwise check"), 1, "planwise: error: database error: ")
    assert "Traceback" not in stderr
    ok(sh(project, fix(symptom, "planwise backup restore")))
    ok(sh(project, fix(symptom, "planwise run")))
    assert_complete(project, template)


def test_write_ahead_log_cannot_be_replayed(project, template):
    """A writer SIGKILLed before DuckDB folded its log into the file leaves `<db>.wal`; damaged, DuckDB refuses
    the database (run, --no-backup, check). Restore sets both aside and the resume proves every year again."""
    symptom = "Failure while replaying WAL file"
    writer = subprocess.run([sys.executable, "-c", "import duckdb, os, signal\n"
                             f"con = duckdb.connect({str(project / DB)!r})\n"
                             "con.execute(\"set checkpoint_threshold = '1TB'\")\n"
                             "con.execute('update fct_workforce_snapshot set current_compensation = 1 "
                             "where simulation_year = 2029')\n"
                             "con.execute('create table scratch as select range as v from range(100000)')\n"
                             "os.kill(os.getpid(), signal.SIGKILL)"])
    assert writer.returncode == -signal.SIGKILL
    wal = project / "dbt" / "simulation.duckdb.wal"
    size = wal.stat().st_size
    assert size > 100_000, "the killed writer left no write-ahead log"
    with wal.open("r+b") as handle:  # a bad sector in the middle of the log
        handle.seek(size // 2)
        data = handle.read(64)
        handle.seek(size // 2)
        handle.write(bytes(b ^ 0xFF for b in data))
    replay = f'Failure while replaying WAL file "{wal}": Corrupt WAL file: entry at byte position '
    failed(sh(project, "planwise run --years 2025-2029 --resume"), 1,
           f"pre-run backup failed, the run did not start: cannot read {project / DB} to back it up: {replay}",
           "does not match stored checksum")
    failed(sh(project, "planwise run --years 2025-2029 --resume --no-backup"), 1, f"database error: {replay}")
    failed(sh(project, "planwise check"), 1, f"database error: {replay}")

    restored = ok(sh(project, fix(symptom, "planwise backup restore")))
    assert "could not be read; it was moved to" in restored.stdout
    (aside,) = (project / "dbt" / "backups").glob("damaged_*_simulation.duckdb")
    assert aside.with_name(aside.name + ".wal").is_file() and not wal.exists()
    done = ok(sh(project, fix(symptom, "planwise run")))
    assert all_skipped(done.stdout)
    assert_complete(project, template)


def flip_middle(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        data = handle.read(64)
        handle.seek(-len(data), os.SEEK_CUR)
        handle.write(bytes(b ^ 0xFF for b in data))


def test_a_damaged_backup(project, template):
    """Bytes flipped in the newest backup: verify fails naming it; restoring the other one works, and once the
    damaged file and its manifest are deleted (the row's `rm`), verify passes."""
    symptom = "the file is damaged"
    *_, good, damaged = backups(project)
    flip_middle(damaged)
    done = sh(project, "planwise backup verify")
    assert done.returncode == 1 and f"FAILED: {damaged.name}: backup {damaged} has sha256 " in done.stdout
    assert "the file is damaged" in done.stdout
    commands = fix_commands(symptom)
    ok(sh(project, commands[0]))
    assert commands[0] == "planwise backup list"
    ok(sh(project, as_written(commands[1], **{"backup_20261126_101500": good.stem})))
    ok(sh(project, as_written(commands[2], **{"backup_20261127_090000": damaged.stem})))
    assert not damaged.exists() and not damaged.with_suffix(".json").exists()
    ok(sh(project, commands[3]))
    assert commands[3] == "planwise backup verify"
    assert_complete(project, template)


def test_part_files_of_a_killed_backup(project, template):
    """A backup SIGKILLed half-way through its copy (the test hook) leaves a `.part`; the next backup removes it."""
    symptom = ".simulation.duckdb.backup.<pid>.<hex>.part"
    killed = sh(project, "planwise backup create", PLANWISE_TEST_FAULT="backup:kill")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    folder = project / "dbt" / "backups"
    assert [p.name.startswith(".simulation.duckdb.backup.") for p in folder.glob(".*.part")] == [True]
    ok(sh(project, fix(symptom, "planwise backup create")))
    assert not list(folder.glob(".*.part"))
    ok(sh(project, "planwise backup verify"))
    assert_complete(project, template)


def break_hiring(project: Path, year: int) -> tuple[Path, str]:
    """int_hiring_events fails in `year` only (dbt's error()): a model that breaks on one year's data."""
    model = project / "dbt" / "models" / "intermediate" / "int_hiring_events.sql"
    return model, edit(model, "from aged\n", f"from aged{{% if sim_year() | int == {year} %}}\n"
                                             f"where error('broken for {year} only') is null{{% endif %}}\n")


def test_a_model_failed(project, template):
    """int_hiring_events fails in 2026: the error names it, the logs the row points to exist; after the fix the
    row's plain dbt command builds the two models for 2026, and the resume skips 2025."""
    symptom = "dbt run failed at model.planwise.<model>"
    model, good = break_hiring(project, 2026)
    before = set((project / "dbt" / "logs").glob("run_*.jsonl"))
    run = sh(project, "planwise run --years 2025-2029 --resume")
    stderr = failed(run, 1, "dbt run failed at model.planwise.int_hiring_events: ", "broken for 2026 only",
                    "run the same command with --resume")
    assert decisions(run.stdout)[2025] == ("skipped (checkpoint verified; edited int_hiring_events: this year's "
                                           "compiled SQL is unchanged)")
    log = new_log(project, before)
    assert {"model": "int_hiring_events", "status": "error"}.items() <= next(
        e for e in events(log) if e["event"] == "model_finished" and e["status"] != "success").items()
    run_id = log.stem.removeprefix("run_")
    assert (project / "dbt" / "artifacts" / "runs" / run_id / "dbt" / "logs" / "dbt.log").is_file(), stderr
    assert done_years(project) == [2025]

    model.write_text(good)  # the fix
    tried = ok(sh(project, fix(symptom, "cd dbt && dbt run")))
    assert "PASS=2 " in tried.stdout, tried.stdout
    done = ok(sh(project, fix(symptom, "planwise run")))
    assert decisions(done.stdout)[2025] == "skipped (checkpoint verified)"  # its checkpoint predates the break
    assert decisions(done.stdout)[2026] == "rebuilt (no checkpoint)"
    assert_complete(project, template)


def test_the_run_stopped_at_a_year(project, template):
    """A run failing in 2027 keeps 2025-2026; after the fix the resume skips them and rebuilds from 2027."""
    symptom = "The run stopped at a year"
    model, good = break_hiring(project, 2027)
    done = sh(project, "planwise run --years 2025-2029")
    failed(done, 1, "planwise: error: ")
    assert re.search(r"^2025: 183 -> \d+ employees", done.stdout, re.M) and re.search(r"^2026: ", done.stdout, re.M)
    assert not re.search(r"^2027: ", done.stdout, re.M)
    assert done_years(project) == [2025, 2026]
    model.write_text(good)
    (command,) = fix_commands(symptom)
    resumed = ok(sh(project, command))
    note = "skipped (checkpoint verified; edited int_hiring_events: this year's compiled SQL is unchanged)"
    assert decisions(resumed.stdout) == {2025: note, 2026: note, 2027: "rebuilt (no checkpoint)",
                                         2028: "rebuilt (no checkpoint)", 2029: "rebuilt (no checkpoint)"}
    assert_complete(project, template)


def test_a_quality_gate_failed(project, template):
    """A model writes NULL pay in 2026: the run stops at that year's gate. After the fix, the row's dbt command
    rebuilds pay for 2026, `planwise check --years 2026` passes and the resume completes the run."""
    symptom = "quality gate <check> failed for <year>"
    model = project / "dbt" / "models" / "marts" / "fct_workforce_snapshot.sql"
    good = edit(model, "    CAST(s.current_compensation AS DECIMAL(14, 2)) as current_compensation,\n",
                "    {% if sim_year() | int == 2026 %}CAST(NULL AS DECIMAL(14, 2)){% else %}"
                "CAST(s.current_compensation AS DECIMAL(14, 2)){% endif %} as current_compensation,\n")
    failed(sh(project, "planwise run --years 2025-2029 --resume"), 1, "quality gate null_comp_count failed for 2026: ",
           "snapshot row with NULL current_compensation")
    check = fix(symptom, "planwise check")
    failed(sh(project, check), 1, "quality gate null_comp_count failed for 2026")
    model.write_text(good)  # the fix of the model
    ok(sh(project, fix(symptom, "cd dbt && dbt run")))
    ok(sh(project, check))
    done = ok(sh(project, fix(symptom, "planwise run")))
    assert decisions(done.stdout)[2026] == "rebuilt (no checkpoint)"
    assert_complete(project, template)


def test_null_compensation(project, template):
    """NULL pay written by hand into 2026's snapshot: `planwise check` fails; the row's dbt rebuild, check and
    resume give back the run's rows (plain dbt writes exactly what the run wrote, so 2026 is proven again)."""
    symptom = "quality gate null_comp_count failed for 2026"
    sql(project, "update fct_workforce_snapshot set current_compensation = null where simulation_year = 2026 and "
                 "employee_id in (select employee_id from fct_workforce_snapshot where simulation_year = 2026 "
                 "order by employee_id limit 3)")
    check = fix(symptom, "planwise check")
    failed(sh(project, check), 1, "quality gate null_comp_count failed for 2026: 3 failing (first: ",
           "snapshot row with NULL current_compensation")
    ok(sh(project, fix(symptom, "cd dbt && dbt run")))
    ok(sh(project, check))
    assert digests(project, [2027])[2027]["fct_workforce_snapshot"] == [0, "0"]  # cleared, as the row says
    done = ok(sh(project, fix(symptom, "planwise run")))
    assert decisions(done.stdout) == {
        2025: "skipped (checkpoint verified)", 2026: "skipped (checkpoint verified)",
        2027: "rebuilt (database rows differ from the checkpoint: fct_employer_accounts, fct_employer_cost, "
              "fct_nondiscrimination, fct_workforce_snapshot, fct_yearly_events, int_workforce_needs, int_workforce_needs_by_level)",
        2028: "rebuilt (2027 is rebuilt)", 2029: "rebuilt (2027 is rebuilt)"}
    assert_complete(project, template)


def test_a_quality_warning(project, template):
    """A threshold tighter than the simulated pay growth: `[warn]` lines, exit 0; widened, the warnings go."""
    symptom = "quality <year> <check> [warn]"
    config = project / "config" / "simulation_config.yaml"
    good = edit(config, "avg_compensation_max_change: 0.15", "avg_compensation_max_change: 0.0001")
    command = fix(symptom, "planwise check")
    warned = ok(sh(project, command))
    assert re.search(r"^quality 2026 avg_compensation \[warn\]: 1 failing: average active pay ", warned.stdout, re.M)
    config.write_text(good)  # widened back
    clean = ok(sh(project, command))
    assert [line for line in clean.stdout.splitlines() if "[warn]" in line] == [
        f"quality {year} avg_compensation [warn]: ok" for year in YEARS]


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_a_bad_log_level(project, template, where):
    """LOG_LEVEL=LOUD stops the run with exit 2 before anything is touched; unset (or removed from .env) it runs."""
    symptom = "LOG_LEVEL='...' is not a log level"
    run = fix(symptom, "planwise run")
    env = {"LOG_LEVEL": "LOUD"} if where == "environment" else {}
    if where == ".env":
        (project / ".env").write_text("LOG_LEVEL=LOUD\n")
    failed(sh(project, run, **env), 2, "LOG_LEVEL='LOUD' is not a log level")
    if where == "environment":  # `unset` changes the shell that then runs planwise: one shell for both
        done = ok(sh(project, f"{fix(symptom, 'unset ')} && {run}", **env))
    else:
        (project / ".env").write_text("")  # removed from .env
        done = ok(sh(project, run))
    assert all_skipped(done.stdout)
    assert_complete(project, template)


@pytest.mark.parametrize("sent, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_an_interrupted_run(project, template, sent, code, name):
    """A run signalled during 2026 stops as interrupted (the exit code of its signal); the resume continues from
    the year that was running."""
    symptom = "planwise: error: interrupted (SIGTERM)"
    before = set((project / "dbt" / "logs").glob("run_*.jsonl"))
    running = start(project, "planwise run --years 2025-2029")
    try:
        wait_for_event(project, before, running, "year_started", 2026)
        running.send_signal(sent)
        _, stderr = running.communicate(timeout=300)
    finally:
        running.kill()
    assert running.returncode == code, stderr
    assert f"planwise: error: interrupted ({name}); the running year was not completed" in stderr
    assert "run the same command with --resume" in stderr and done_years(project) == [2025]
    (command,) = fix_commands(symptom)
    done = ok(sh(project, command))
    assert decisions(done.stdout)[2025] == "skipped (checkpoint verified)"
    assert decisions(done.stdout)[2026] == "rebuilt (no checkpoint)"
    assert_complete(project, template)


def test_an_invalid_config(project, template):
    """A value out of range: exit 2 naming the key, nothing touched; corrected, the same command runs."""
    symptom = "config ...: <key>: expected ..."
    config = project / "config" / "simulation_config.yaml"
    good = edit(config, "merit_budget: 0.025", "merit_budget: 2")
    (command,) = fix_commands(symptom)
    failed(sh(project, command), 2, "compensation.merit_budget: expected ")
    config.write_text(good)
    assert all_skipped(ok(sh(project, command)).stdout)
    assert_complete(project, template)


def test_config_changed_since_the_checkpoints(project, template):
    """A simulated key edited: `--resume` rebuilds every year saying which key changed; the same command then
    proves every year."""
    symptom = "rebuilt (config changed: compensation.merit_budget)"
    edit(project / "config" / "simulation_config.yaml", "merit_budget: 0.025", "merit_budget: 0.03")
    (command,) = fix_commands(symptom)
    changed = ok(sh(project, command))
    assert decisions(changed.stdout) == {year: "rebuilt (config changed: compensation.merit_budget)"
                                         for year in YEARS}
    assert all_skipped(ok(sh(project, command)).stdout)
    assert digests(project) != template["digests"] and done_years(project) == YEARS


def test_an_unreadable_checkpoint(project, template):
    """2027's `.done` torn (not JSON): never trusted, 2027-2029 rebuilt; afterwards every year is proven. (The
    row's other reasons, a bad checksum and the wrong year: tests/test_resume.py's hand-edit cases.)"""
    symptom = "rebuilt (checkpoint unreadable: not valid JSON)"
    (project / CHECKPOINTS / "year_2027.done").write_text("{garbage")
    (command,) = fix_commands(symptom)
    done = ok(sh(project, command))
    assert decisions(done.stdout) == {2025: "skipped (checkpoint verified)", 2026: "skipped (checkpoint verified)",
                                      2027: "rebuilt (checkpoint unreadable: not valid JSON)",
                                      2028: "rebuilt (2027 is rebuilt)", 2029: "rebuilt (2027 is rebuilt)"}
    assert all_skipped(ok(sh(project, command)).stdout)
    assert_complete(project, template)


def test_a_database_restored_from_an_older_backup(project, template):
    """The oldest backup holds 2025-2027 only; restored, the resume finds 2028's rows differ from its checkpoint
    and rebuilds 2028-2029; the next resume proves every year."""
    symptom = "rebuilt (database rows differ from the checkpoint"
    ok(sh(project, f"planwise backup restore {backups(project)[0].name}"))
    assert digests(project, [2028])[2028]["fct_workforce_snapshot"] == [0, "0"]
    (command,) = fix_commands(symptom)
    done = ok(sh(project, command))
    assert decisions(done.stdout) == {
        2025: "skipped (checkpoint verified)", 2026: "skipped (checkpoint verified)",
        2027: "skipped (checkpoint verified)",
        2028: "rebuilt (database rows differ from the checkpoint: fct_employer_accounts, fct_employer_cost, "
              "fct_nondiscrimination, fct_workforce_snapshot, fct_yearly_events, int_workforce_needs, int_workforce_needs_by_level)",
        2029: "rebuilt (2028 is rebuilt)"}
    assert all_skipped(ok(sh(project, command)).stdout)
    assert_complete(project, template)


# --- the sections ------------------------------------------------------------------------------------------------

def test_full_reset(project, template):
    """The database, its `.wal` and its checkpoints deleted (a `.wal` left by a killed writer too), then a clean
    run: a new database with one run in run_metadata, new checkpoints, the backups kept."""
    (block,) = section_blocks("Full reset")
    (project / "dbt" / "simulation.duckdb.wal").write_bytes(b"left by a killed writer")
    kept = backups(project)
    for command in block:
        ok(sh(project, command))
    assert not (project / "dbt" / "simulation.duckdb.wal").exists()
    with duckdb.connect(str(project / DB), read_only=True) as con:
        (run_id,), = con.execute("select run_id from run_metadata").fetchall()
    assert {json.loads(p.read_text())["run_id"] for p in (project / CHECKPOINTS).glob("*.done")} == {run_id}
    assert backups(project) == kept
    assert_complete(project, template)


def test_targeted_rebuild_of_one_model(project, template):
    """The pay table rebuilt for 2026 holds 2026's rows; the year-keyed tables are untouched."""
    block = section_blocks("Targeted fixes")[0]
    assert block == ["cd dbt && dbt run --select int_employee_compensation_by_year --vars '{simulation_year: 2026}'"]
    ok(sh(project, block[0]))
    with duckdb.connect(str(project / DB), read_only=True) as con:
        assert con.execute("select distinct simulation_year from int_employee_compensation_by_year").fetchall() == [
            (2026,)]
    assert_complete(project, template)


def test_targeted_rebuild_from_a_year_with_plain_dbt(project, template):
    """2027-2029 damaged by hand; plain dbt year by year writes the run's rows again (the checkpoints prove it)."""
    sql(project, "update fct_workforce_snapshot set current_compensation = null where simulation_year >= 2027")
    failed(sh(project, "planwise check --years 2027"), 1, "quality gate null_comp_count failed for 2027")
    (command,) = section_blocks("Targeted fixes")[1]
    ok(sh(project, command))
    assert digests(project) == template["digests"]
    assert all_skipped(ok(sh(project, "planwise run --years 2025-2029 --resume")).stdout)
    assert_complete(project, template)


def test_targeted_rebuild_from_a_year_with_planwise(project, template):
    """2027's checkpoint removed: the resume rebuilds 2027 and every later year, and only those."""
    block = section_blocks("Targeted fixes")[2]
    assert [command.split()[0] for command in block] == ["rm", "planwise"]
    ok(sh(project, block[0]))
    done = ok(sh(project, block[1]))
    assert decisions(done.stdout) == {2025: "skipped (checkpoint verified)", 2026: "skipped (checkpoint verified)",
                                      2027: "rebuilt (no checkpoint)", 2028: "rebuilt (2027 is rebuilt)",
                                      2029: "rebuilt (2027 is rebuilt)"}
    assert_complete(project, template)


def test_targeted_test_of_one_year(project, template):
    """Both commands pass on the run's database and both fail once 2026 has NULL pay."""
    dbt_test, check = section_blocks("Targeted fixes")[3]
    ok(sh(project, dbt_test))
    ok(sh(project, check))
    sql(project, "update fct_workforce_snapshot set current_compensation = null where simulation_year = 2026 "
                 "and employee_id = (select min(employee_id) from fct_workforce_snapshot)")
    tested = sh(project, dbt_test)
    assert tested.returncode == 1 and "not_null_fct_workforce_snapshot_current_compensation" in tested.stdout
    failed(sh(project, check), 1, "quality gate null_comp_count failed for 2026: 1 failing")


def test_backups_by_hand(project, template):
    """Each line of the section, in order (the example backup name replaced by the oldest real one)."""
    (block,) = section_blocks("Backups by hand")
    count = len(backups(project))
    create, listing, verify, latest, named, no_backup = block
    ok(sh(project, create))
    assert len(backups(project)) == count + 1
    assert "backups of " in ok(sh(project, listing)).stdout
    assert "FAILED" not in ok(sh(project, verify)).stdout
    ok(sh(project, latest))
    oldest = backups(project)[0]
    ok(sh(project, as_written(named, **{"dbt/backups/backup_20261126_101500.duckdb": f"dbt/backups/{oldest.name}"})))
    done = ok(sh(project, no_backup))
    assert "backup: skipped (--no-backup)" in done.stdout
    assert_complete(project, template)


# --- coverage of the page ------------------------------------------------------------------------------------------

COVERED = [  # one fragment of each row's symptom, in the table's order; each test above names its row by it
    "is in use by planwise run", "DuckDB could not lock it", "lock: took over simulation.duckdb.lock",
    "no space left on the disk of dbt/backups", "cannot write the backup folder dbt/backups",
    "missing required environment variable NAME", "You need an earlier state of the database",
    "exists, but it is not a valid DuckDB database file!", "`database error: ...` during a run", "Failure while replaying WAL file",
    "the file is damaged", ".simulation.duckdb.backup.<pid>.<hex>.part", "dbt run failed at model.planwise.<model>",
    "The run stopped at a year", "quality gate <check> failed for <year>",
    "quality gate null_comp_count failed for 2026", "quality <year> <check> [warn]",
    "LOG_LEVEL='...' is not a log level", "planwise: error: interrupted (SIGTERM)", "config ...: <key>: expected ...",
    "rebuilt (config changed: compensation.merit_budget)", "rebuilt (checkpoint unreadable: not valid JSON)",
    "rebuilt (database rows differ from the checkpoint",
]


def test_every_row_and_block_of_the_page_has_its_test():
    """A row added to RECOVERY.md without a test here fails this (and a test of a removed row fails `row`)."""
    rows = table_rows()
    claimed = [[fragment for fragment in COVERED if fragment in symptom] for symptom, _, _ in rows]
    assert all(len(c) == 1 for c in claimed), [r[0] for r, c in zip(rows, claimed) if len(c) != 1]
    assert len(rows) == len(COVERED)
    assert all(fix_commands(fragment) for fragment in COVERED), "a row whose fix names no command"
    shapes = {heading: [len(block) for block in section_blocks(heading)]
              for heading in ("Full reset", "Targeted fixes", "Backups by hand")}
    assert shapes == {"Full reset": [3], "Targeted fixes": [1, 1, 2, 2], "Backups by hand": [6]}
