"""Seeded simulation runs for tests: each distinct run is built once per test session and shared read-only.

A run is built through the public API `planwise run` calls (`navigator_orchestrator.run_request` and `simulate`)
into a folder named by the hash of its specification, under a root shared by all xdist workers. By default it runs
inside the test process: dbt is imported once and parses warm, so a small run costs less than half of what it does
in a fresh process; `--planwise-subprocess` runs the real CLI, `python -m navigator_orchestrator.cli`, in a child
process instead. A per-run file lock makes the first worker that needs a
run build it while the others wait and then reuse it (pytest-postgresql's "template once, copy per test").
With `--planwise-runs-dir` the root outlives the session (`kept_root`), so a later session reuses the runs too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

import navigator_orchestrator
import navigator_orchestrator as planwise
from navigator_orchestrator.inputs.census import generate_census
from navigator_orchestrator.inputs.config import load_config, render_yaml
from navigator_orchestrator.dbt_layer.dbt_runner import project_files
from navigator_orchestrator.safety.locking import file_lock
from navigator_orchestrator.inputs.paths import DBT_DIR, DEFAULT_CONFIG
from navigator_orchestrator.run.quality import CheckResult, check_database
from navigator_orchestrator.run.summary import summary_json, versions


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
        """The spec and the content of the files it names: a config or census edited in place is another run."""
        files = {name: _file_sha256(path) for name, path in (("config", self.config), ("census", self.census)) if path}
        text = json.dumps({**self.__dict__, "file_sha256": files}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"  # the run itself will say why


def kept_root(folder: Path, project_dir: Path = DBT_DIR) -> Path:
    """Where `--planwise-runs-dir` keeps runs (and their generated censuses) for later sessions: one subfolder per
    state of what a result depends on beyond its spec (PlanWise's code, the dbt project, the default config, the
    Python, dbt and DuckDB versions), so a run built before a model edit or an upgrade is never reused."""
    package = Path(navigator_orchestrator.__file__).parent
    digest = hashlib.sha256(json.dumps(versions(), sort_keys=True).encode())
    for base, files in ((package, sorted(package.rglob("*.py"))), (project_dir, project_files(project_dir)),
                        (DEFAULT_CONFIG.parent, [DEFAULT_CONFIG])):
        for path in files:
            digest.update(f"\0{path.relative_to(base)}\0".encode())
            digest.update(path.read_bytes())
    return folder.resolve() / digest.hexdigest()[:16]


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


def census_file(root: Path, employees: int, seed: int) -> Path:
    """The generated census for (employees, seed), made once per session root."""
    path = root / "censuses" / f"census_{employees}_{seed}.parquet"
    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            generate_census(employees, seed, path)
    return path


def build_run(root: Path, spec: RunSpec, in_subprocess: bool = False) -> PlanwiseRun:
    """Build `spec` once under `root` (or reuse it) and return the finished run."""
    key = spec.key  # reads the spec's config and census files: once
    folder = root / "runs" / key
    with file_lock(root / "runs" / f"{key}.lock"):
        record = folder / "run.json"
        if not record.exists():
            _execute(root, spec, folder, in_subprocess)
        data = json.loads(record.read_text())
    return PlanwiseRun(spec=spec, folder=folder, db_path=Path(data["db_path"]), status=data["status"],
                       returncode=data["returncode"], years={int(k): v for k, v in data["years"].items()},
                       errors=data["errors"], summary=data["summary"], stdout=data["stdout"], stderr=data["stderr"])


def _execute(root: Path, spec: RunSpec, folder: Path, in_subprocess: bool) -> None:
    if folder.exists():
        shutil.rmtree(folder)  # a half-built run from a crashed worker
    folder.mkdir(parents=True)
    config_path = folder / "config.yaml"
    config_path.write_text(render_yaml(load_config(spec.config, dict(spec.overrides))))
    census = Path(spec.census) if spec.census else census_file(root, spec.employees, spec.census_seed)
    db_path = folder / "simulation.duckdb"
    if in_subprocess:
        argv = ["run", "--years", f"{spec.start_year}-{spec.end_year}", "--seed", str(spec.seed), "--config",
                str(config_path), "--census", str(census), "--db", str(db_path), "--threads", str(spec.threads),
                "--dbt-project", str(DBT_DIR)]  # the child starts in the run's folder: name this session's project
        returncode, stdout, stderr = _in_subprocess(argv, folder)
        summary, errors = planwise.latest_summary(db_path) or {}, []
    else:
        returncode, stdout, stderr, summary, errors = _in_process(spec, config_path, census, db_path)
    record = {
        "db_path": str(db_path), "returncode": returncode, "stdout": stdout, "stderr": stderr,
        "status": summary.get("status", "failed"), "errors": summary.get("errors") or errors,
        "years": {str(y["year"]): y["metrics"] for y in summary.get("years", [])}, "summary": summary,
    }
    tmp = folder / "run.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str))
    os.replace(tmp, folder / "run.json")


def _in_process(spec: RunSpec, config: Path, census: Path, db_path: Path) -> tuple[int, str, str, dict, list[str]]:
    """The API's run in this process (what `planwise run` calls), its console lines captured: (exit code, stdout,
    stderr, summary, errors). Bad input or a database in use raises before a run starts: no summary then."""
    lines: list[str] = []
    try:
        result = planwise.simulate(planwise.run_request(
            years=(spec.start_year, spec.end_year), seed=spec.seed, config=config, census=census, db=db_path,
            threads=spec.threads), echo=lines.append)
    except planwise.PlanwiseError as error:
        return error.exit_code, "", str(error), {}, [str(error)]
    stdout = "".join(f"{line}\n" for line in lines)
    return result.exit_code, stdout, "", json.loads(summary_json(result)), result.errors


def _in_subprocess(argv: list[str], folder: Path) -> tuple[int, str, str]:
    """The CLI exactly as a user starts it, in a child process with the run's folder as working directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("DB_PATH", "PLANWISE_DB_PATH")}
    done = subprocess.run([sys.executable, "-m", "navigator_orchestrator.cli", *argv],
                          capture_output=True, text=True, cwd=folder, env=env)
    return done.returncode, done.stdout, done.stderr


def isolated_copy(run: PlanwiseRun, destination: Path) -> Path:
    """A private copy of a run's database for a test that writes; the shared one stays untouched."""
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / run.db_path.name
    shutil.copy2(run.db_path, target)
    return target


def run_quality_gates(db_path: Path, years: tuple[int, int] | None = None,
                      overrides: dict[str, Any] | None = None) -> list[CheckResult]:
    """Every quality check on every simulated year of a database (or `years`), read-only: nothing is recorded."""
    return list(check_database(db_path, "pytest", load_config(None, overrides or {}), years,
                               record_results=False).results)
