"""The project's commands as a user types them, in a child process: `planwise ...` and plain `dbt ...` from dbt/.

Both drop DB_PATH/PLANWISE_DB_PATH inherited from the test environment (a test names its database), and plain
dbt writes its target and logs under the folder the test gives, never into the checkout. Both come from this
test process's fork server (`forkserver.py`: real processes that skip the 2 s dbt import; one whose PYTHONPATH
shadows a module the server imported execs a fresh interpreter): `planwise` as `python -m
navigator_orchestrator.cli`, plain dbt as this interpreter's `dbt` console script.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from navigator_orchestrator.paths import DBT_DIR

DBT_SCRIPT = Path(sys.executable).parent / "dbt"  # the dbt console script installed with this interpreter
_SHOWN = 20_000  # characters of a timed-out child's stderr shown with the failure
_INHERITED = ("DB_PATH", "PLANWISE_DB_PATH", "LOG_LEVEL", "PLANWISE_TEST_FAULT", "PLANWISE_TEST_KILL")


def command_environment(extra: dict[str, str | None] | None) -> dict[str, str]:
    """The test's environment without what a test must name itself; `extra` sets variables (None unsets one)."""
    base = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    merged = {**base, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(extra or {})}
    return {k: v for k, v in merged.items() if v is not None}


def planwise_command(args: list, cwd: Path, env: dict[str, str | None] | None = None,
                     timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m navigator_orchestrator.cli <args>` in `cwd`, output captured."""
    return completed(planwise_process(args, cwd, env), timeout)


def completed(process: ForkedProcess, timeout: float | None = 600) -> subprocess.CompletedProcess:
    """The child's exit code and whole output once it has ended (killed if it outlives `timeout`)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def planwise_process(args: list, cwd: Path, env: dict[str, str | None] | None = None,
                     new_session: bool = False) -> ForkedProcess:
    """The same command started in the background, for tests that signal or kill it mid-run; `new_session`
    makes it lead its own process group, so the test can kill it with every worker it started (os.killpg)."""
    return ForkedProcess([str(arg) for arg in args], Path(cwd), command_environment(env), new_session)


class _ForkServer:
    """This process's fork server, started on first use; one request at a time, exits reported by a thread."""

    _instance: _ForkServer | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen([sys.executable, "-m", "pytest_planwise.forkserver", str(theirs.fileno())],
                                        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._started: list[dict] = []
        self._exits: dict[int, int] = {}
        threading.Thread(target=self._listen, daemon=True).start()

    @classmethod
    def get(cls) -> _ForkServer:
        with cls._guard:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def _listen(self) -> None:
        while message := self._control.recv(1 << 16):
            reply = json.loads(message)
            with self._changed:
                if "pid" in reply:
                    self._started.append(reply)
                else:
                    self._exits[reply["exit"]] = reply["code"]
                self._changed.notify_all()

    def start(self, request: dict, stdout: int, stderr: int) -> dict:
        """The server's answer for the started child: {"pid", "fresh"}."""
        with self._lock, self._changed:
            socket.send_fds(self._control, [json.dumps(request).encode()], [stdout, stderr])
            if not self._changed.wait_for(lambda: self._started, timeout=60):
                raise RuntimeError("the planwise fork server did not start the command within 60 s")
            return self._started.pop(0)

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits, timeout=timeout)
            return self._exits.get(pid)


class ForkedProcess:
    """A child forked by the server, with the part of Popen's interface the tests use. Its stdout
    and stderr are pipes, read to the end by a thread each (so a chatty child never blocks on a full pipe)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], new_session: bool = False,
                 module: str = "navigator_orchestrator.cli", script: Path | None = None) -> None:
        """`module` run as `python -m` runs it, or `script` as `python <script>` runs it, with `argv`."""
        self.args = [sys.executable, *([str(script)] if script else ["-m", module]), *argv]
        self._server = server = _ForkServer.get()
        program = {"script": str(script)} if script else {"module": module}
        pipes = [os.pipe(), os.pipe()]
        try:
            started = server.start({"argv": argv, "cwd": str(cwd), "env": env, "new_session": new_session,
                                    **program}, pipes[0][1], pipes[1][1])
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        self.pid: int = started["pid"]
        self.fresh_interpreter: bool = started["fresh"]  # the server's imports shadowed: no saving
        self.returncode: int | None = None
        self._output: list[list[str]] = [[], []]  # what each stream has said so far
        self._readers = [threading.Thread(target=self._read, args=(index, read_end), daemon=True)
                         for index, (read_end, _) in enumerate(pipes)]
        for reader in self._readers:
            reader.start()

    def _read(self, index: int, fd: int) -> None:
        """As it comes (a child that outlives its timeout still shows what it said), decoded as a text pipe is."""
        decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder("utf-8")(errors="replace"), True)
        try:
            while chunk := os.read(fd, 1 << 16):
                self._output[index].append(decoder.decode(chunk))
            self._output[index].append(decoder.decode(b"", final=True))
        finally:
            os.close(fd)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, timeout)
            if self.returncode is None:
                self._show_stacks(timeout)
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def _show_stacks(self, timeout: float | None) -> None:
        """A child that outlived its timeout: SIGUSR1 (the CLI prints each thread's stack to stderr on it), then
        what the child said on stderr, into the test's own stderr (pytest shows it with the failure)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGUSR1)
        time.sleep(1)
        said = "".join(self._output[1])[-_SHOWN:]
        print(f"pid {self.pid} still running after {timeout} s: {' '.join(self.args[2:])}\nits stderr ends with "
              f"(the stack of each thread after SIGUSR1):\n{said}", file=sys.stderr)

    def send_signal(self, sent: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sent)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """(stdout, stderr) once the child has ended (and every process it left holding them)."""
        self.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        return "".join(self._output[0]), "".join(self._output[1])


def dbt_command(args: list, cwd: Path, env: dict[str, str | None] | None = None,
                timeout: float | None = 600) -> subprocess.CompletedProcess:
    """The interpreter's `dbt` console script with `args` in `cwd`, output captured."""
    return completed(ForkedProcess([str(arg) for arg in args], Path(cwd), command_environment(env),
                                   script=DBT_SCRIPT), timeout)


def plain_dbt(*args: str, db: Path, work: Path, project: Path = DBT_DIR) -> subprocess.CompletedProcess:
    """`dbt <args>` run from the project folder with DB_PATH pointing at `db`; target and logs under `work`."""
    argv = [*args, "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    return dbt_command(argv, project, {"DB_PATH": str(db)}, timeout=None)


def copy_dbt_project(destination: Path) -> Path:
    """A private copy of the dbt project's sources under `destination` (no target, logs or databases), to change
    in a test and run with `planwise run --dbt-project`, never touching dbt/."""
    target = destination / "dbt_project"
    shutil.copytree(DBT_DIR, target, ignore=shutil.ignore_patterns(
        "target", "logs", "artifacts", "backups", "*.duckdb*", ".user.yml", "dbt_packages"))
    return target


def run_log_lines(path: Path) -> list[dict]:
    """Every complete line of a run log, parsed: a line cut short by a kill is the only one left out."""
    text = Path(path).read_text()
    complete = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    return [json.loads(line) for line in complete]
