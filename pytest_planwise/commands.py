"""The `planwise` CLI as a user types it, in a child process: `python -m navigator_orchestrator.cli ...`.

Children get the test's environment without DB_PATH/PLANWISE_DB_PATH (and the other variables a test must name
itself), so a test names its database. They are plain `subprocess.Popen` children with text pipes; a test suite
that wants them started another way (its own fork server, as this repository's tests/ has) hands a function with
`python_process`'s signature to `use_process_starter`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

CLI_MODULE = "navigator_orchestrator.cli"
_INHERITED = ("DB_PATH", "PLANWISE_DB_PATH", "LOG_LEVEL", "PLANWISE_TEST_FAULT", "PLANWISE_TEST_KILL")

# (argv, cwd, env, *, module, new_session) -> a started process with Popen's interface
ProcessStarter = Callable[..., Any]


def command_environment(extra: dict[str, str | None] | None) -> dict[str, str]:
    """The test's environment without what a test must name itself; `extra` sets variables (None unsets one)."""
    base = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    merged = {**base, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(extra or {})}
    return {k: v for k, v in merged.items() if v is not None}


def popen_python(argv: list[str], cwd: Path, env: dict[str, str], *, module: str = CLI_MODULE,
                 new_session: bool = False) -> subprocess.Popen:
    """`python -m <module> <argv>` in `cwd` with exactly `env`: stdin from /dev/null, stdout and stderr text
    pipes; `new_session` makes it lead its own process group (os.killpg reaches every worker it started)."""
    return subprocess.Popen([sys.executable, "-m", module, *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            errors="replace", start_new_session=new_session)


_starter: ProcessStarter = popen_python


def use_process_starter(starter: ProcessStarter | None) -> ProcessStarter:
    """Start this module's children (and the dbt test helper's) with `starter` from now on (None: plain
    subprocess again); returns the one it replaces."""
    global _starter
    previous, _starter = _starter, starter or popen_python
    return previous


def python_process(argv: list[str], cwd: Path, env: dict[str, str], *, module: str = CLI_MODULE,
                   new_session: bool = False):
    """`python -m <module> <argv>` started by the current process starter (`popen_python` unless replaced)."""
    return _starter(argv, cwd, env, module=module, new_session=new_session)


def planwise_command(args: list, cwd: Path, env: dict[str, str | None] | None = None,
                     timeout: float | None = 600) -> subprocess.CompletedProcess:
    """`python -m navigator_orchestrator.cli <args>` in `cwd`, output captured; `env` sets variables on top of
    `command_environment` (None unsets one)."""
    return completed(planwise_process(args, cwd, env), timeout)


def planwise_process(args: list, cwd: Path, env: dict[str, str | None] | None = None,
                     new_session: bool = False):
    """The same command started in the background, for tests that signal or kill it mid-run; `new_session`
    makes it lead its own process group, so the test can kill it with every worker it started (os.killpg)."""
    return python_process([str(arg) for arg in args], Path(cwd), command_environment(env), new_session=new_session)


def completed(process, timeout: float | None = 600) -> subprocess.CompletedProcess:
    """The child's exit code and whole output once it has ended (killed if it outlives `timeout`)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
