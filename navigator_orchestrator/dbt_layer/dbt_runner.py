"""dbt in-process: parse the project once, then reuse the manifest for every invocation.

A CLI `dbt run` pays 2.5-3 s of start-up; in-process with a reused manifest it is 0.2-0.3 s. dbt keeps global
state, so one invocation at a time per process. Every run gets its own target and log folders so parallel runs
and test workers never overwrite each other's artifacts or write into the checkout. dbt copies the process's
command line into its log, so the log passes through `masking.mask` after every invocation (the JSON artifacts
are not written: `_LEAN`).

Parsing once, not once per run: dbt's own partial parsing (`partial_parse.msgpack`) is kept in one cache folder
per database name (`target/planwise_parse/` in the project, `artifacts/dbt_parse/` beside the database for the
installed package's own project, or `$PLANWISE_PARSE_CACHE`, which copies of the project share), and the parse runs with the same profile values every time (a placeholder path with that name,
one thread), because dbt's state check hashes the profile's connection values: a per-database path, or another
`--threads`, would re-parse the whole project (about 3.5 s more than a partial parse). The manifest only names the
database (the file's stem), so it serves every file of that name. dbt itself decides whether the cache still holds
(file checksums, dbt version, vars, profile) and re-parses what changed; a corrupt cache file is re-parsed whole.
dbt does not notice a project that moved: its seeds would still be read from where the cache was parsed, so they
are pointed at this project (`_relocate_seeds`). Inside one process the manifest is kept in memory while the
project's files (names, sizes, times) are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import duckdb

from . import dbt_fast_paths
from ..errors import SimulationError
from ..inputs.paths import DBT_DIR, is_shipped
from ..safety.interrupts import lost_interrupt
from ..safety.locking import file_lock
from ..safety.masking import mask_file


@dataclass
class NodeResult:
    """One model/seed/test outcome as dbt reported it."""

    unique_id: str
    status: str
    seconds: float
    message: str
    relation: str | None = None  # where a test stored its failing rows (--store-failures)
    failures: int = 0
    compiled_sha256: str | None = None  # of the SQL dbt ran (a checkpoint records it per model and year)


FAILED = ("error", "fail", "runtime error")
PARSE_CACHE_ENV = "PLANWISE_PARSE_CACHE"
# the database path of the parse invocation: never opened (dbt parses without connecting), the same string for every
# project copy and database folder, so dbt's profile hash does not change (only the name, the manifest's database)
PARSE_PLACEHOLDER = Path("/nonexistent/planwise-parse")
_PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "packages.yml", "models", "macros", "seeds", "tests",
                  "snapshots", "analyses")
_MANIFESTS: dict[tuple[str, str], tuple[tuple, Any]] = {}  # (project, database name) -> (fingerprint, manifest)
# dbt's events that say how a parse went (the dbt log has the same lines)
_PARSE_EVENTS = {"PartialParsingSkipParsing": "partial parse, no changes", "PartialParsingEnabled": "partial parse",
                 "ParsedFileLoadFailed": "full parse", "UnableToPartialParse": "full parse",
                 "PartialParsingNotEnabled": "full parse"}
OnNode = Callable[[NodeResult], None]
# Per invocation, dbt would rewrite manifest.json and run_results.json (the run log's model_finished lines say the
# same) and log every statement at debug level into dbt.log, which is then masked: about 13 % of a small run's CPU.
# dbt.log keeps each model's start, result and error; the compiled SQL stays under target/. dbt's relation cache
# holds the schemas of the selected nodes only: the others (dbt tests' audit schema) were listed at the start of
# every invocation for nothing (the lean materializations look up their own relation only).
_LEAN = ("--no-write-json", "--log-level-file", "info", "--cache-selected-only")


@dataclass
class DbtRunner:
    """Runs dbt commands against one database file, counting invocations."""

    db_path: Path
    work_dir: Path
    threads: int = 2
    project_dir: Path = DBT_DIR
    invocations: list[str] = field(default_factory=list)
    parse_info: dict = field(default_factory=dict)  # how the manifest was had: source, dbt's message, seconds
    _manifest: Any = None
    _masked: dict = field(default_factory=dict)  # log file -> bytes already masked

    @contextmanager
    def _environment(self, db_path: Path | None = None, threads: int | None = None) -> Iterator[None]:
        """profiles.yml reads the database path and threads from the environment: set them for one invocation
        and put back what was there, so a process that runs several simulations never leaks one into the next."""
        values = {"PLANWISE_DB_PATH": str(db_path or self.db_path), "PLANWISE_THREADS": str(threads or self.threads),
                  "PLANWISE_KEEP_OPEN": "true",
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

    def _args(self, command: str, extra: list[str], target: Path | None = None, threads: int | None = None) -> list[str]:
        return [
            command,
            "--project-dir", str(self.project_dir),
            "--profiles-dir", str(self.project_dir),
            "--target-path", str(target or self.work_dir / "target"),
            "--log-path", str(self.work_dir / "logs"),
            "--threads", str(threads or self.threads),
            "--quiet",
            "--no-send-anonymous-usage-stats",
            *extra,
        ]

    def _invoke(self, command: str, extra: list[str], on_node: OnNode | None = None, target: Path | None = None,
                db_path: Path | None = None, callbacks: list | None = None, threads: int | None = None) -> Any:
        from dbt.cli.main import dbtRunner  # imported late: 2.5-5 s in a fresh process

        dbt_fast_paths.install()
        self.invocations.append(command)
        callbacks = [*dbt_fast_paths.invocation_callbacks(), *(callbacks or []),
                     *([_node_finished(on_node)] if on_node else [])]
        result = None
        try:
            with self._environment(db_path, threads):
                result = dbtRunner(manifest=self._manifest, callbacks=callbacks).invoke(
                    self._args(command, extra, target, threads))
        finally:
            try:
                _release_database(result)
            finally:
                for written in (self.work_dir / "logs").glob("*.log"):  # appended to by every invocation
                    self._masked[written] = mask_file(written, self._masked.get(written, 0))
        interrupt = lost_interrupt(result.exception)
        if interrupt is not None:  # Ctrl-C or SIGTERM inside dbt, even when dbt's clean-up then failed: stop
            raise interrupt
        if result.exception is not None:
            raise SimulationError(f"dbt {command} failed: {_one_line(result.exception)}",
                                  "read the dbt log under the run's folder, fix the model or input, then run the same "
                                  "command with --resume: it skips the years already completed")
        return result

    def parse(self) -> None:
        """The project's manifest, parsed as little as possible (see the module docstring); later invocations
        reuse it. `parse_info` says where it came from."""
        began = time.monotonic()
        key = (str(self.project_dir.resolve()), self.db_path.stem)
        fingerprint = project_fingerprint(self.project_dir)
        known = _MANIFESTS.get(key)
        if known is not None and known[0] == fingerprint:
            self._manifest = known[1]
            self.parse_info = {"source": "reused in this process", "dbt_message": "", "seconds": 0.0}
            return
        cache = parse_cache_dir(self.project_dir, self.db_path)
        heard: list[tuple[str, str]] = []

        def listen(event: Any) -> None:
            if event.info.name in _PARSE_EVENTS:
                heard.append((event.info.name, event.info.msg))

        # dbt's import (about 2.5 s in a fresh process) is per process: done before the lock, so the workers of an
        # ensemble, started together, import at once instead of each waiting for the others' import and parse
        import dbt.cli.main  # noqa: F401

        with file_lock(cache / "parse.lock"):  # one writer of the cache at a time (xdist workers, parallel runs)
            result = self._invoke("parse", ["--no-write-json"], target=cache / "target", threads=1,
                                  db_path=PARSE_PLACEHOLDER / f"{self.db_path.stem}.duckdb", callbacks=[listen])
        self._manifest = _relocate_seeds(result.result, self.project_dir)
        _MANIFESTS[key] = (fingerprint, self._manifest)
        name, message = heard[-1] if heard else ("", "no partial parse file yet")
        self.parse_info = {"source": _PARSE_EVENTS.get(name, "full parse"), "dbt_message": message,
                           "seconds": round(time.monotonic() - began, 3)}

    def test_ids(self) -> list[str]:
        """Unique ids of the project's dbt tests, from the parsed manifest."""
        if self._manifest is None:
            self.parse()
        return sorted(n.unique_id for n in self._manifest.nodes.values() if n.resource_type == "test")

    def run(self, command: str, variables: dict[str, Any], select: str | None = None,
            extra: list[str] | tuple[str, ...] = (), check: bool = True,
            on_node: OnNode | None = None, label: str | None = None) -> list[NodeResult]:
        """`dbt <command>` (run, seed, build, test) with runtime vars; raises on a failed node when `check`.
        `on_node` hears of each node as dbt finishes it (dbt's own run_results.json comes only at the end).
        `label` names the command in that error when it is not `command` (RECOVERY.md's symptom for a year's
        models is `dbt run failed at ...`, also when the first year's `build` loads the seeds with them)."""
        if self._manifest is None:
            self.parse()
        args = ["--vars", json.dumps(variables, sort_keys=True), *_LEAN, *extra]
        if select:
            args += ["--select", select]
        result = self._invoke(command, args, on_node)
        nodes = [
            NodeResult(r.node.unique_id, str(r.status), float(r.execution_time or 0.0), _one_line(r.message or ""),
                       getattr(r.node, "relation_name", None), int(r.failures or 0), _sha256(r.node))
            for r in (result.result.results if result.result is not None else [])
        ]
        failed = [n for n in nodes if n.status in FAILED]
        if check and (failed or not result.success):
            first = failed[0] if failed else None
            where = f"{first.unique_id}: {first.message}" if first else "see the dbt log"
            raise SimulationError(f"dbt {label or command} failed at {where}",
                                  "fix the model or its input, then run the same command with --resume: "
                                  "it skips the years already completed")
        return nodes


    def compile_models(self, variables: dict[str, Any], models: list[str]) -> dict[str, str]:
        """{model: sha256 of the SQL dbt compiles for these vars}: what `--resume` compares with a checkpoint.
        Quiet: dbt prints a lone compiled node even with --quiet, and only its hash is wanted."""
        return model_hashes(self.run("compile", variables, select=" ".join(models),
                                     extra=["--log-level", "none", "--indirect-selection", "empty"]))


def model_hashes(nodes: list[NodeResult]) -> dict[str, str]:
    """{model name: sha256 of its compiled SQL} of the models among `nodes` (a checkpoint records them per year)."""
    return {n.unique_id.rsplit(".", 1)[-1]: n.compiled_sha256 for n in nodes if n.unique_id.startswith("model.")}


def _release_database(result: Any) -> None:
    """Close the DuckDB connection dbt-duckdb kept open for the invocation (keep_open), so this process and
    others can open the file at once. dbt-duckdb holds it in its connection manager's environment.

    A signal that lands while dbt starts a pool thread (`Thread.start` waiting for the thread) leaves that thread
    out of the pool it joins, so the thread may still run its query on a cursor of this connection, and DuckDB
    refuses to close it ("connection is busy with another call"). That error is the interrupt's doing: it is
    raised as the interrupt (see `lost_interrupt`), never as a failure of the database."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = getattr(DuckDBConnectionManager, "_ENV", None)  # dbt-duckdb's; absent: dbt closed it itself
    DuckDBConnectionManager.close_all_connections()
    if environment is None:
        return
    try:
        environment.close()
    except duckdb.Error as error:
        interrupt = lost_interrupt(result.exception) if result is not None else None
        if interrupt is None:
            raise
        raise interrupt from error


def parse_cache_dir(project_dir: Path, db_path: Path) -> Path:
    """Where dbt keeps its partial parse of this project for databases named like `db_path`: the installed
    package's own project is never written, so its cache lives beside the database, under artifacts/."""
    root = os.environ.get(PARSE_CACHE_ENV)
    if root:
        return Path(root) / db_path.stem
    if is_shipped(project_dir):
        return db_path.parent / "artifacts" / "dbt_parse" / db_path.stem
    return project_dir / "target" / "planwise_parse" / db_path.stem


def _relocate_seeds(manifest: Any, project_dir: Path) -> Any:
    """Seeds are the only nodes dbt reads from disk after parsing, through their `root_path`; a cache parsed in
    another copy of the project keeps that copy's path for the seeds whose files did not change."""
    root = str(project_dir.resolve())
    for node in manifest.nodes.values():
        if node.resource_type == "seed" and node.package_name == manifest.metadata.project_name \
                and node.root_path != root:
            node.root_path = root
    return manifest


def project_files(project_dir: Path, parts: tuple[str, ...] = _PROJECT_PARTS) -> list[Path]:
    """The project's source files under `parts` (files or folders), in a stable order; no target, logs, databases."""
    files = []
    for part in parts:
        path = project_dir / part
        files += [item for item in (sorted(path.rglob("*")) if path.is_dir() else [path]) if item.is_file()]
    return files


def project_fingerprint(project_dir: Path) -> tuple:
    """Names, sizes and modification times of the project's source files: cheap, and changed by any edit."""
    return tuple((str(item.relative_to(project_dir)), item.stat().st_size, item.stat().st_mtime_ns)
                 for item in project_files(project_dir))


def _sha256(node: Any) -> str | None:
    """Of the node's compiled SQL, blank lines and trailing spaces aside (a Jinja branch for another year leaves
    those behind)."""
    code = getattr(node, "compiled_code", None)
    if not code:
        return None
    lines = (line.rstrip() for line in code.splitlines())
    return hashlib.sha256("\n".join(line for line in lines if line).encode()).hexdigest()


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
