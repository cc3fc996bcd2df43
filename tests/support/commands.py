"""The suite's child processes from its fork server (`forkserver.py`: real processes that skip the 2 s dbt import;
one whose PYTHONPATH shadows a module the server imported execs a fresh interpreter), and plain `dbt ...` from dbt/.

tests/conftest.py hands `forked_python` to the plugin (`pytest_planwise.commands.use_process_starter`), so the
plugin's `planwise_command`, `planwise_process` and dbt test helper start their children here. Plain dbt drops
DB_PATH/PLANWISE_DB_PATH inherited from the test environment (a test names its database) and writes its target and
logs under the folder the test gives, never into the checkout.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import itertools
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

from navigator_orchestrator.inputs.paths import DBT_DIR
from pytest_planwise.commands import CLI_MODULE, command_environment, completed

DBT_SCRIPT = Path(sys.executable).parent / "dbt"  # the dbt console script installed with this interpreter
SERVER = Path(__file__).with_name("forkserver.py")  # run as a script: it imports nothing from tests/
_SHOWN = 20_000  # characters of a timed-out child's stderr shown with the failure


class _ForkServer:
    """This process's fork server, started on first use; one request at a time, exits reported by a thread.
    Every request has its own id: the server reports the child's start and exit under it, and an exit is handed
    to the child's own `ForkedProcess` and forgotten here, so a later child with the same pid never sees it."""

    _instance: _ForkServer | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen([sys.executable, str(SERVER), str(theirs.fileno())],
                                        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._requests = itertools.count()
        self._started: dict[str, dict] = {}  # request id -> {"pid", "fresh"}, until `start` takes it
        self._running: dict[str, ForkedProcess] = {}  # request id -> its child, until the server reports its exit
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
                    self._started[reply["id"]] = reply
                elif (process := self._running.pop(reply["exit"], None)) is not None:
                    process._ended(reply["code"])
                self._changed.notify_all()

    def start(self, process: ForkedProcess, request: dict, stdout: int, stderr: int) -> dict:
        """Start `process`'s child: the server's answer {"pid", "fresh"}."""
        with self._lock, self._changed:
            key = f"{os.getpid()}-{next(self._requests)}"
            self._running[key] = process
            socket.send_fds(self._control, [json.dumps({**request, "id": key}).encode()], [stdout, stderr])
            if not self._changed.wait_for(lambda: key in self._started, timeout=60):
                self._running.pop(key, None)
                raise RuntimeError("the planwise fork server did not start the command within 60 s")
            return self._started.pop(key)


class ForkedProcess:
    """A child forked by the server, with the part of Popen's interface the tests use. Its stdout
    and stderr are pipes, read to the end by a thread each (so a chatty child never blocks on a full pipe)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], new_session: bool = False,
                 module: str = CLI_MODULE, script: Path | None = None) -> None:
        """`module` run as `python -m` runs it, or `script` as `python <script>` runs it, with `argv`."""
        self.args = [sys.executable, *([str(script)] if script else ["-m", module]), *argv]
        self.returncode: int | None = None
        self._exit = threading.Event()  # set by the server's listener with `_code`
        self._code: int | None = None
        server = _ForkServer.get()
        program = {"script": str(script)} if script else {"module": module}
        pipes = [os.pipe(), os.pipe()]
        try:
            started = server.start(self, {"argv": argv, "cwd": str(cwd), "env": env, "new_session": new_session,
                                    **program}, pipes[0][1], pipes[1][1])
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        self.pid: int = started["pid"]
        self.fresh_interpreter: bool = started["fresh"]  # shadowed imports or start-up settings: no saving
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

    def _ended(self, code: int) -> None:
        self._code = code
        self._exit.set()

    def poll(self) -> int | None:
        if self.returncode is None and self._exit.is_set():
            self.returncode = self._code
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if self._exit.wait(timeout):
                self.returncode = self._code
            else:
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


def forked_python(argv: list[str], cwd: Path, env: dict[str, str], *, module: str = CLI_MODULE,
                  new_session: bool = False) -> ForkedProcess:
    """The plugin's process starter for this suite (tests/conftest.py installs it): `python -m <module> <argv>`
    as a fork-server child."""
    return ForkedProcess(argv, cwd, env, new_session, module=module)


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
