"""Progress on long work: on a terminal a run and an ensemble show a status line (years or runs done of total,
elapsed, remaining) rewritten in place and cleared before every plain line, at the end and on Ctrl-C or SIGTERM;
output that is not a terminal gets exactly the plain lines. The commands run under a real pseudo-terminal
(`pty`) with PLANWISE_PROGRESS_AFTER=0, so the line shows from the start however quick the run is; the estimate
and the line's text are checked with a fake clock."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Callable

import duckdb
import pytest

from navigator_orchestrator.errors import InputError
from navigator_orchestrator.inputs.paths import PROJECT_ROOT
from navigator_orchestrator.run.progress import (AFTER_ENV, DEFAULT_AFTER, PLAIN, StatusLine, clock_time, delay,
                                                 on_terminal, remaining, status_line)
from pytest_planwise.commands import CLI_MODULE, command_environment, planwise_command
from pytest_planwise.runs import census_file

EMPLOYEES = 300
COLUMNS = 200  # the pseudo-terminal's width: wide enough that no status line is cut
STATUS = re.compile(r"\d+/\d+ (?:years|runs) done|elapsed \d+:\d\d|remaining")


@pytest.fixture
def census(planwise_root) -> Path:
    return census_file(planwise_root, EMPLOYEES, 42)


# ------------------------------------------------------------------------------------------------ a terminal
def on_pty(args: list, cwd: Path, env: dict[str, str | None],
           interrupt: tuple[Callable[[bytes], bool], int] | None = None, timeout: float = 600) -> tuple[int, str]:
    """`python -m navigator_orchestrator.cli <args>` with stdout and stderr on a new pseudo-terminal (COLUMNS
    wide): its exit code and every byte it wrote there, read until it exits. `interrupt` = (ready, signal): send
    the signal once `ready(output so far)`."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", CLI_MODULE, *map(str, args)], cwd=cwd,
                               env=command_environment(env), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    output, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not chunk:
                    break
                output += chunk
                if interrupt and interrupt[0](output):
                    process.send_signal(interrupt[1])
                    interrupt = None
            elif process.poll() is not None:
                break
        else:
            process.kill()
            pytest.fail(f"{args[0]} did not end within {timeout}s:\n{output.decode(errors='replace')}")
        return process.wait(timeout=60), output.decode("utf-8", errors="replace")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()


def screen(raw: str) -> list[str]:
    """What a terminal shows after `raw`: each line as the last characters written at each column (a lone
    carriage return goes back to the line's start), trailing blanks dropped."""
    shown = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        cells: list[str] = []
        column = 0
        for char in line:
            if char == "\r":
                column = 0
                continue
            cells[column:column + 1] = [char]
            column += 1
        shown.append("".join(cells).rstrip())
    return shown[:-1] if shown and shown[-1] == "" else shown


def status_texts(raw: str) -> list[str]:
    """Every status line drawn in `raw`: the text after each lone carriage return, up to the next."""
    return [text for text in re.split(r"\r(?!\n)", raw.replace("\r\n", "\n"))[1:] if STATUS.search(text)]


def normalized(lines: list[str], folder: Path) -> list[str]:
    """Lines with what differs between two runs of the same command removed: run ids, timings, the folder."""
    text = "\n".join(lines).replace(str(folder), "<dir>")
    text = re.sub(r"\d{8}_\d{6}-[0-9a-f]{8}", "<run_id>", text)
    text = re.sub(r"\d+\.\d+s\b", "<s>", text)
    return [" ".join(line.split()) for line in text.splitlines()]


def run_args(db: Path, census: Path, years: str) -> list:
    return ["run", "--years", years, "--db", db, "--census", census, "--threads", "1"]


def test_a_run_on_a_terminal_shows_years_done_elapsed_and_remaining_and_keeps_every_plain_line(tmp_path, census):
    """The same run on a terminal and piped: the terminal's screen ends up with exactly the piped output's lines
    (the year lines, the table, the tests, the run line), the status line having been drawn between them with
    carriage returns (0/2 then 1/2 years done, elapsed, "estimating" then an estimate) and cleared; the piped
    output holds no carriage return and no status text; neither reaches the run log or summary.json."""
    (tmp_path / "tty").mkdir()
    (tmp_path / "pipe").mkdir()
    code, raw = on_pty(run_args(tmp_path / "tty" / "sim.duckdb", census, "2025-2026"), tmp_path, {AFTER_ENV: "0"})
    (summary_path,) = (tmp_path / "tty" / "artifacts" / "runs").glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert code == 0 and summary["status"] == "success", raw
    assert summary["years_processed"] == [2025, 2026]

    drawn = status_texts(raw)
    assert any(text.startswith("0/2 years done, building 2025") and "remaining: estimating" in text
               for text in drawn), drawn
    assert any(re.match(r"1/2 years done, .*elapsed \d+:\d\d, remaining about \d+:\d\d$", text.rstrip())
               for text in drawn), drawn
    assert any(text.startswith("1/2 years done, building 2026") for text in drawn), drawn
    shown = screen(raw)
    assert not [line for line in shown if STATUS.search(line)], shown  # every status line was cleared
    with duckdb.connect(str(tmp_path / "tty" / "sim.duckdb"), read_only=True) as con:
        counts = dict(con.execute("select simulation_year, count(*) from fct_workforce_snapshot "
                                  "where employment_status = 'active' group by 1").fetchall())
    for year in (2025, 2026):
        assert any(line.startswith(f"{year}: ") and f"-> {counts[year]:,} employees" in line for line in shown), shown
    assert any(line.split()[:2] == ["year", "start"] for line in shown), shown  # the table's header

    piped = planwise_command(run_args(tmp_path / "pipe" / "sim.duckdb", census, "2025-2026"), tmp_path,
                             {AFTER_ENV: "0"})
    assert piped.returncode == 0, piped.stderr
    assert "\r" not in piped.stdout + piped.stderr and not STATUS.search(piped.stdout + piped.stderr)
    assert normalized(shown, tmp_path / "tty") == normalized((piped.stdout + piped.stderr).splitlines(),
                                                             tmp_path / "pipe")

    written = summary_path.read_text() + "".join(p.read_text() for p in (tmp_path / "tty" / "logs").glob("*.jsonl"))
    assert "years done" not in written and "remaining" not in written


def test_a_dumb_terminal_gets_only_the_plain_lines(tmp_path, census):
    """TERM=dumb (a terminal that cannot return the cursor): the checks above find no status line at all."""
    code, raw = on_pty(run_args(tmp_path / "sim.duckdb", census, "2025-2025"), tmp_path,
                       {AFTER_ENV: "0", "TERM": "dumb"})
    assert code == 0, raw
    assert status_texts(raw) == [] and "\r" not in raw.replace("\r\n", "\n")
    assert any(line.startswith("2025: ") for line in screen(raw)), raw


@pytest.mark.parametrize("signum, exit_code, what", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupted_run_leaves_the_terminal_clean_and_keeps_its_exit_code(tmp_path, census, signum, exit_code,
                                                                              what):
    """The signal arrives while 2026 is being built, the status line on the screen: the run stops as it always
    did (its exit code, its error line, summary `interrupted`) and no status text is left on the screen, not
    even in front of the lines dbt prints as it cancels its queries."""
    code, raw = on_pty(run_args(tmp_path / "sim.duckdb", census, "2025-2029"), tmp_path, {AFTER_ENV: "0"},
                       interrupt=(lambda output: b"1/5 years done, building 2026" in output, signum))
    (summary_path,) = (tmp_path / "artifacts" / "runs").glob("*/summary.json")
    assert json.loads(summary_path.read_text())["status"] == "interrupted", raw
    assert code == exit_code, raw
    shown = screen(raw)
    assert any(line.startswith(f"planwise: error: interrupted ({what})") for line in shown), shown
    assert not [line for line in shown if STATUS.search(line)], shown


def test_an_ensemble_on_a_terminal_shows_runs_done_with_ok_and_failed(tmp_path, census):
    out = tmp_path / "ens"
    code, raw = on_pty(["ensemble", "--scenarios", PROJECT_ROOT / "scenarios" / "default.yaml", "--seeds", "1-2",
                        "--years", "2025-2025", "--out", out, "--census", census], tmp_path, {AFTER_ENV: "0"})
    assert code == 0, raw
    with duckdb.connect() as con:
        seeds = con.execute("select distinct seed from read_parquet(?) order by 1", [str(out / "runs.parquet")])
        assert [seed for (seed,) in seeds.fetchall()] == [1, 2]
    drawn = status_texts(raw)
    first = next(i for i, text in enumerate(drawn) if text.startswith("1/2 runs done (1 ok, 0 failed)"))
    assert any(text.startswith("2/2 runs done (2 ok, 0 failed)") for text in drawn[first:]), drawn
    assert drawn[0].startswith("starting") or drawn[0].startswith("0/2 runs done"), drawn
    shown = screen(raw)
    assert not [line for line in shown if STATUS.search(line)], shown
    assert [line[:6] for line in shown if line.startswith("[")] == ["[1/2] ", "[2/2] "], shown
    assert shown[-1].startswith("ensemble: 2 of 2 runs ok in "), shown


def test_an_interrupted_ensemble_leaves_the_terminal_clean_and_exits_130(tmp_path, census):
    """Ctrl-C while a run is inside dbt: the ensemble stops its workers as it always did (exit 130, one line)
    and no status text is left on the screen, not even in front of the cancel lines the stopped workers print."""
    out = tmp_path / "ens"

    def in_dbt(output: bytes) -> bool:
        logs = (log.read_text() for log in out.glob("work/*/seed_*/logs/run_*.jsonl"))
        return b"0/2 runs done" in output and any('"model_finished"' in text for text in logs)

    code, raw = on_pty(["ensemble", "--scenarios", PROJECT_ROOT / "scenarios" / "default.yaml", "--seeds", "1-2",
                        "--years", "2025-2025", "--out", out, "--census", census], tmp_path, {AFTER_ENV: "0"},
                       interrupt=(in_dbt, signal.SIGINT))
    assert code == 130, raw
    shown = screen(raw)
    assert "planwise: interrupted" in shown, shown
    assert not [line for line in shown if STATUS.search(line)], shown


# ------------------------------------------------------------------------------------------------ the parts
def test_the_estimate_is_the_finished_units_mean_for_every_unit_less_the_time_gone():
    assert remaining(0, 4, 0.0, 30.0) is None  # nothing finished: no estimate yet
    assert remaining(1, 4, 10.0, 10.0) == 30.0  # 10 s a unit, 4 units, 10 s gone
    assert remaining(1, 4, 10.0, 25.0) == 15.0  # half-way through the second
    assert remaining(2, 4, 10.0, 10.0) == 10.0  # two workers finished one each in 10 s: 5 s a unit
    assert remaining(1, 2, 10.0, 45.0) == 0.0  # later than the estimate: no negative time
    assert remaining(3, 3, 30.0, 31.0) == 0.0
    assert [clock_time(s) for s in (0, 59.4, 59.6, 61, 3600 + 62)] == ["0:00", "0:59", "1:00", "1:01", "1:01:02"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Screen:
    """A stream that keeps what is written to it (a terminal as far as the status line can tell: no fileno, so
    the fallback width)."""

    def __init__(self) -> None:
        self.written = ""

    def write(self, data: str) -> int:
        self.written += data
        return len(data)

    def flush(self) -> None:
        pass

    def line(self) -> str:
        """The status line drawn last, without the blanks that cover a longer one before it."""
        return self.written.rsplit("\r", 1)[1].rstrip()


def test_the_status_line_waits_its_delay_then_counts_estimates_masks_and_clears():
    clock, out = FakeClock(), Screen()
    line = StatusLine(out, "years", after=2.0, clock=clock)
    clock.now = 1.0
    line.draw()
    assert out.written == ""  # short work prints nothing but its lines
    line.begin(2)
    line.doing("building 2025")
    clock.now = 3.0
    line.draw()
    assert out.written == "\r0/2 years done, building 2025, elapsed 0:03, remaining: estimating"
    clock.now = 11.0
    line.done(1)  # the first year took 10 s (begun at 1 s): about 10 s left
    assert out.line() == "1/2 years done, elapsed 0:11, remaining about 0:10"
    clock.now = 15.0
    line.doing("building 2026 token=hunter2")
    line.draw()
    assert out.line() == "1/2 years done, building 2026 token=****, elapsed 0:15, remaining about 0:06"
    assert "hunter2" not in out.written
    shown = out.written.rsplit("\r", 1)[1]  # with its blanks: all of it is cleared
    line.echo("2026: a plain line token=abcdefgh")
    assert out.written.endswith("\r" + " " * len(shown) + "\r2026: a plain line token=****\n")
    line.doing("x" * 200)
    line.draw()
    assert len(out.line()) == 79  # cut to the (fallback) width, never wrapped
    line.close()
    assert out.written.endswith("\r" + " " * 79 + "\r")


def test_runs_count_ok_and_failed():
    clock, out = FakeClock(), Screen()
    line = StatusLine(out, "runs", after=0.0, clock=clock)
    line.begin(4)
    clock.now = 8.0
    line.done(2, failed=1)
    assert out.written == "\r2/4 runs done (1 ok, 1 failed), elapsed 0:08, remaining about 0:08"


def test_only_two_terminals_and_a_terminal_that_can_return_the_cursor_get_the_line(tmp_path):
    master, slave = pty.openpty()
    read, write = os.pipe()
    with open(slave, "w") as tty, open(write, "w") as pipe:
        assert on_terminal(tty, tty, {"TERM": "xterm"})
        assert on_terminal(tty, tty, {})
        assert not on_terminal(tty, tty, {"TERM": "dumb"})
        assert not on_terminal(pipe, tty, {"TERM": "xterm"})
        assert not on_terminal(tty, pipe, {"TERM": "xterm"})
        with (tmp_path / "file").open("w") as file:
            assert not on_terminal(file, file, {"TERM": "xterm"})
    os.close(master)
    os.close(read)
    with status_line("years", {}) as status:  # pytest captures stdout: not a terminal
        assert status is PLAIN


def test_the_delay_is_seconds_from_the_environment():
    assert delay({}) == DEFAULT_AFTER
    assert delay({AFTER_ENV: "0"}) == 0.0
    assert delay({AFTER_ENV: " 5.5 "}) == 5.5
    assert delay({AFTER_ENV: "inf"}) == float("inf")
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(InputError, match=f"{AFTER_ENV}="):
            delay({AFTER_ENV: bad})


def test_a_bad_delay_stops_the_command_with_exit_2_and_writes_nothing(tmp_path, census):
    done = planwise_command(run_args(tmp_path / "sim.duckdb", census, "2025-2025"), tmp_path, {AFTER_ENV: "soon"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"planwise: error: {AFTER_ENV}='soon' is not a number of seconds (fix: set "
                                        f"{AFTER_ENV} to seconds >= 0 (0: at once, inf: never), or unset it for 2)"]
    assert list(tmp_path.iterdir()) == []
