"""dbt tests as pytest items: list the project's dbt tests, run them all once per database, keep failing rows.

dbt runs in a child process (`python -m pytest_planwise.dbt_tests`, started by `commands.python_process`) so its
global state and logging never leak into the pytest process. Tests run with --store-failures, so a failure comes
with the rows that broke it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .commands import completed, python_process

FAILING_ROWS_SHOWN = 20


@dataclass
class DbtTestOutcome:
    """One dbt test's result on one database, with a sample of its failing rows."""

    unique_id: str
    status: str
    failures: int
    message: str
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def report(self) -> str:
        """The failure as a reader wants it: what failed, how many rows, and the rows themselves."""
        lines = [f"dbt test {self.unique_id}: {self.status}, {self.failures} failing row(s). {self.message}".strip()]
        if self.columns:
            lines.append(" | ".join(self.columns))
            lines += [" | ".join("NULL" if v is None else str(v) for v in row) for row in self.rows]
        return "\n".join(lines)


def _call(command: str, work_dir: Path, *args: str, env: dict[str, str] | None = None):
    """Run the helper in a child process; it writes its answer as JSON to a file (dbt prints errors on stdout)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    answer = work_dir / f"{command}.json"
    done = completed(python_process([command, str(work_dir), *args], Path.cwd(), {**os.environ, **(env or {})},
                                    module="pytest_planwise.dbt_tests"), timeout=None)
    if done.returncode != 0 or not answer.exists():
        raise RuntimeError(f"dbt {command} helper failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    return json.loads(answer.read_text())


def list_dbt_tests(work_dir: Path, parse_cache: Path) -> list[str]:
    """Unique ids of every dbt test in the project (parsed by dbt itself, into `parse_cache`, for the database name
    the session's runs use: their first parse is then a partial one)."""
    from navigator_orchestrator.dbt_layer.dbt_runner import PARSE_CACHE_ENV

    return _call("list", work_dir, env={PARSE_CACHE_ENV: str(parse_cache)})


def run_dbt_tests(db_path: Path, work_dir: Path) -> dict[str, DbtTestOutcome]:
    """Run every dbt test against `db_path` (which it writes failing rows into) and collect the outcomes."""
    return {item["unique_id"]: DbtTestOutcome(**item) for item in _call("run", work_dir, str(db_path))}


def _main(argv: list[str]) -> None:
    from navigator_orchestrator.inputs.config import load_config
    from navigator_orchestrator.dbt_layer.dbt_runner import DbtRunner

    command, work_dir = argv[0], Path(argv[1])
    answer = work_dir / f"{command}.json"
    db_path = Path(argv[2]) if len(argv) > 2 else work_dir / "simulation.duckdb"  # never opened: names the parse
    runner = DbtRunner(db_path=db_path, work_dir=work_dir, threads=1)
    if command == "list":
        answer.write_text(json.dumps(runner.test_ids()))
        return
    results = runner.run("test", load_config().dbt_vars(), extra=["--store-failures"], check=False)
    outcomes = []
    with duckdb.connect(str(db_path), read_only=True) as con:
        for node in results:
            columns, rows = [], []
            if node.failures and node.relation:
                cursor = con.execute(f"select * from {node.relation} limit {FAILING_ROWS_SHOWN}")
                columns = [c[0] for c in cursor.description]
                rows = [[None if v is None else str(v) for v in row] for row in cursor.fetchall()]
            outcomes.append({"unique_id": node.unique_id, "status": node.status, "failures": node.failures,
                             "message": node.message, "columns": columns, "rows": rows})
    answer.write_text(json.dumps(outcomes))


if __name__ == "__main__":
    _main(sys.argv[1:])
