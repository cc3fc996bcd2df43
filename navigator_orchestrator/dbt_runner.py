"""dbt in-process: parse the project once per run, then reuse the manifest for every invocation.

A CLI `dbt run` pays 2.5-3 s of start-up; in-process with a reused manifest it is 0.2-0.3 s. dbt keeps global
state, so one invocation at a time per process. Every run gets its own target and log folders so parallel runs
and test workers never overwrite each other's artifacts or write into the checkout. dbt copies the process's
command line into its log and run_results.json, so both pass through `masking.mask` after every invocation.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import SimulationError
from .masking import mask_file
from .paths import DBT_DIR


@dataclass
class NodeResult:
    """One model/seed/test outcome as dbt reported it."""

    unique_id: str
    status: str
    seconds: float
    message: str
    relation: str | None = None  # where a test stored its failing rows (--store-failures)
    failures: int = 0


FAILED = ("error", "fail", "runtime error")
OnNode = Callable[[NodeResult], None]


@dataclass
class DbtRunner:
    """Runs dbt commands against one database file, counting invocations."""

    db_path: Path
    work_dir: Path
    threads: int = 2
    project_dir: Path = DBT_DIR
    invocations: list[str] = field(default_factory=list)
    _manifest: Any = None

    @contextmanager
    def _environment(self) -> Iterator[None]:
        """profiles.yml reads the database path and threads from the environment: set them for one invocation
        and put back what was there, so a process that runs several simulations never leaks one into the next."""
        values = {"PLANWISE_DB_PATH": str(self.db_path), "PLANWISE_THREADS": str(self.threads),
                  "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
        previous = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _args(self, command: str, extra: list[str]) -> list[str]:
        return [
            command,
            "--project-dir", str(self.project_dir),
            "--profiles-dir", str(self.project_dir),
            "--target-path", str(self.work_dir / "target"),
            "--log-path", str(self.work_dir / "logs"),
            "--threads", str(self.threads),
            "--quiet",
            "--no-send-anonymous-usage-stats",
            *extra,
        ]

    def _invoke(self, command: str, extra: list[str], on_node: OnNode | None = None) -> Any:
        from dbt.cli.main import dbtRunner  # imported late: it costs about a second

        self.invocations.append(command)
        callbacks = [_node_finished(on_node)] if on_node else []
        try:
            with self._environment():
                result = dbtRunner(manifest=self._manifest, callbacks=callbacks).invoke(self._args(command, extra))
        finally:
            for written in [*(self.work_dir / "logs").glob("*.log"), self.work_dir / "target" / "run_results.json"]:
                mask_file(written)
        if isinstance(result.exception, KeyboardInterrupt):  # Ctrl-C or SIGTERM inside dbt: stop, not "failed"
            raise result.exception
        if result.exception is not None:
            raise SimulationError(f"dbt {command} failed: {_one_line(result.exception)}",
                                  "read the dbt log under the run's folder, fix the model or input, run again")
        return result

    def parse(self) -> None:
        """Parse the project once; later invocations reuse this manifest."""
        result = self._invoke("parse", [])
        self._manifest = result.result

    def test_ids(self) -> list[str]:
        """Unique ids of the project's dbt tests, from the parsed manifest."""
        if self._manifest is None:
            self.parse()
        return sorted(n.unique_id for n in self._manifest.nodes.values() if n.resource_type == "test")

    def run(self, command: str, variables: dict[str, Any], select: str | None = None,
            extra: list[str] | tuple[str, ...] = (), check: bool = True,
            on_node: OnNode | None = None) -> list[NodeResult]:
        """`dbt <command>` (run, seed, build, test) with runtime vars; raises on a failed node when `check`.
        `on_node` hears of each node as dbt finishes it (dbt's own run_results.json comes only at the end)."""
        args = ["--vars", json.dumps(variables, sort_keys=True), *extra]
        if select:
            args += ["--select", select]
        result = self._invoke(command, args, on_node)
        nodes = [
            NodeResult(r.node.unique_id, str(r.status), float(r.execution_time or 0.0), _one_line(r.message or ""),
                       getattr(r.node, "relation_name", None), int(r.failures or 0))
            for r in (result.result.results if result.result is not None else [])
        ]
        failed = [n for n in nodes if n.status in FAILED]
        if check and (failed or not result.success):
            first = failed[0] if failed else None
            where = f"{first.unique_id}: {first.message}" if first else "see the dbt log"
            raise SimulationError(f"dbt {command} failed at {where}",
                                  "fix the model or its input and run the same command again")
        return nodes


def _node_finished(on_node: OnNode) -> Callable[[Any], None]:
    """A dbtRunner callback passing each NodeFinished event on as a NodeResult."""
    def callback(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        done = event.data.run_result
        on_node(NodeResult(event.data.node_info.unique_id, str(done.status), round(float(done.execution_time or 0), 3),
                           _one_line(done.message or "")))

    return callback


def _one_line(value: object) -> str:
    """dbt messages span lines; errors here are one line."""
    text = " ".join(str(value).split())
    return text[:500]
