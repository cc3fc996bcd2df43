"""The project's commands as a user types them, in a child process: `planwise ...` and plain `dbt ...` from dbt/.

Both drop DB_PATH/PLANWISE_DB_PATH inherited from the test environment (a test names its database), and plain
dbt writes its target and logs under the folder the test gives, never into the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from navigator_orchestrator.paths import DBT_DIR

_INHERITED = ("DB_PATH", "PLANWISE_DB_PATH", "LOG_LEVEL")


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    return {**base, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(extra or {})}


def planwise_command(args: list, cwd: Path, env: dict[str, str] | None = None,
                     timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m navigator_orchestrator.cli <args>` in `cwd`, output captured."""
    return subprocess.run([sys.executable, "-m", "navigator_orchestrator.cli", *map(str, args)], cwd=cwd,
                          env=_environment(env), capture_output=True, text=True, timeout=timeout, check=False)


def planwise_process(args: list, cwd: Path, env: dict[str, str] | None = None,
                     new_session: bool = False) -> subprocess.Popen:
    """The same command started in the background, for tests that signal or kill it mid-run; `new_session`
    makes it lead its own process group, so the test can kill it with every worker it started (os.killpg)."""
    return subprocess.Popen([sys.executable, "-m", "navigator_orchestrator.cli", *map(str, args)], cwd=cwd,
                            env=_environment(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)


def plain_dbt(*args: str, db: Path, work: Path, project: Path = DBT_DIR) -> subprocess.CompletedProcess:
    """`dbt <args>` run from the project folder with DB_PATH pointing at `db`; target and logs under `work`."""
    dbt = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    return subprocess.run([dbt, *args, "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
                          cwd=project, env=_environment({"DB_PATH": str(db)}), capture_output=True, text=True)


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
