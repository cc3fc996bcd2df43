"""Seeded simulation runs for tests: each distinct run is built once per test session and shared read-only.

A run is built by the real CLI in a subprocess (exactly what users run), into a folder named by the hash of its
specification, under a root shared by all xdist workers. A per-run file lock makes the first worker that needs a
run build it while the others wait and then reuse it (pytest-postgresql's "template once, copy per test").
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from navigator_orchestrator.census import generate_census
from navigator_orchestrator.config import load_config, render_yaml


@dataclass(frozen=True)
class RunSpec:
    """What makes a run distinct: census, years, seed, threads and config overrides (dotted keys)."""

    start_year: int = 2025
    end_year: int = 2029
    seed: int = 42
    employees: int = 5000
    census_seed: int = 42
    census: str | None = None
    threads: int = 2
    overrides: tuple[tuple[str, Any], ...] = ()
    config: str | None = None
    replica: int = 0

    @property
    def key(self) -> str:
        text = json.dumps(self.__dict__, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class PlanwiseRun:
    """A finished run: its status, per-year metrics, database (open it read-only) and errors."""

    spec: RunSpec
    folder: Path
    db_path: Path
    status: str
    returncode: int
    years: dict[int, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection: the shared database must never change under other tests."""
        return duckdb.connect(str(self.db_path), read_only=True)

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql, params).fetchall()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive OS lock held for the duration of the block (released if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def census_file(root: Path, employees: int, seed: int) -> Path:
    """The generated census for (employees, seed), made once per session root."""
    path = root / "censuses" / f"census_{employees}_{seed}.parquet"
    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            generate_census(employees, seed, path)
    return path


def build_run(root: Path, spec: RunSpec) -> PlanwiseRun:
    """Build `spec` once under `root` (or reuse it) and return the finished run."""
    folder = root / "runs" / spec.key
    with file_lock(root / "runs" / f"{spec.key}.lock"):
        record = folder / "run.json"
        if not record.exists():
            _execute(root, spec, folder)
        data = json.loads(record.read_text())
    return PlanwiseRun(spec=spec, folder=folder, db_path=Path(data["db_path"]), status=data["status"],
                       returncode=data["returncode"], years={int(k): v for k, v in data["years"].items()},
                       errors=data["errors"], summary=data["summary"], stdout=data["stdout"], stderr=data["stderr"])


def _execute(root: Path, spec: RunSpec, folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)  # a half-built run from a crashed worker
    folder.mkdir(parents=True)
    config = load_config(spec.config, dict(spec.overrides))
    config_path = folder / "config.yaml"
    config_path.write_text(render_yaml(config))
    census = Path(spec.census) if spec.census else census_file(root, spec.employees, spec.census_seed)
    db_path = folder / "simulation.duckdb"
    command = [sys.executable, "-m", "navigator_orchestrator.cli", "run",
               "--years", f"{spec.start_year}-{spec.end_year}", "--seed", str(spec.seed),
               "--config", str(config_path), "--census", str(census), "--db", str(db_path),
               "--threads", str(spec.threads)]
    env = {k: v for k, v in os.environ.items() if k != "DB_PATH"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, env=env)
    summary = _latest_summary(folder)
    record = {
        "db_path": str(db_path), "returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
        "status": summary.get("status", "failed"), "errors": summary.get("errors", []) or _stderr_error(done),
        "years": {str(y["year"]): y["metrics"] for y in summary.get("years", [])}, "summary": summary,
    }
    tmp = folder / "run.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str))
    os.replace(tmp, folder / "run.json")


def _latest_summary(folder: Path) -> dict:
    summaries = sorted((folder / "artifacts" / "runs").glob("*/summary.json"))
    return json.loads(summaries[-1].read_text()) if summaries else {}


def _stderr_error(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()][-1:] if done.returncode else []


def isolated_copy(run: PlanwiseRun, destination: Path) -> Path:
    """A private copy of a run's database for a test that writes; the shared one stays untouched."""
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / run.db_path.name
    shutil.copy2(run.db_path, target)
    return target
