"""validate_production.sh, the four checks before a production run: a good database in a good environment passes all four steps, and each
step, broken (a missing required variable, a failing smoke test, a planted bad row, an impossible time limit),
makes the script exit non-zero with that step named in its table and its FAILED line, never claiming that all
checks passed. Every step runs whatever the others found, so one validation breaks two steps at once and checks
that exactly those fail: three validations cover the five cases (each one is a pytest session, a dbt full parse
and a simulated year). Real subprocesses; each test writes under its tmp_path (a copy of the session's database).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.inputs import paths
from navigator_orchestrator.dbt_layer.dbt_runner import PARSE_CACHE_ENV
from navigator_orchestrator.safety.locking import file_lock
from pytest_planwise.commands import planwise_command

SCRIPT = paths.PROJECT_ROOT / "validate_production.sh"
STEPS = ("environment", "tests", "data_quality", "performance")
ROW = re.compile(r"^(environment|tests|data_quality|performance)\s+(pass|FAIL)\s+([0-9.]+)\s+(\S+)$", re.MULTILINE)
PASSING_TEST = "import pytest\n\n\n@pytest.mark.smoke\ndef test_planted_passes():\n    assert sum([1, 1]) == 2\n"
FAILING_TEST = ("import pytest\n\n\n@pytest.mark.smoke\ndef test_planted_fails():\n"
                "    assert sum([1, 1]) == 3, 'planted failure'\n")
UNSET = "PLANWISE_VALIDATE_TEST_UNSET_VARIABLE"


@pytest.fixture(scope="module")
def built(planwise_root):
    """One small database (300 people, one year) and its census, built once per session with the real CLI under
    the session root (the first xdist worker builds it, the others wait); tests copy the database. It is named
    like the performance step's scratch database (<out>/perf.duckdb): the orchestrator keeps dbt's parse per
    database name, so its parse serves every validation's performance run (a partial parse, not a full one)."""
    root = planwise_root / "validate_built"
    env = {PARSE_CACHE_ENV: str(root / "parse_cache")}
    census = root / "census.parquet"
    with file_lock(planwise_root / "validate_built.lock"):
        if not (root / "built").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            made = planwise_command(["census", "generate", "--employees", 300, "--out", census], cwd=root, env=env)
            assert made.returncode == 0, made.stderr
            run = planwise_command(["run", "--years", "2025-2025", "--census", census, "--db", root / "perf.duckdb",
                                    "--no-backup"], cwd=root, env=env)
            assert run.returncode == 0, run.stderr
            (root / "built").write_text("")
    return {"db": root / "perf.duckdb", "census": census, "parse_cache": root / "parse_cache"}


def validate(tmp_path: Path, built: dict, *options: str, test_file: str = PASSING_TEST,
             db: Path | None = None, env: dict | None = None) -> tuple[int, str, dict]:
    """The script as a user runs it, from tmp_path (no .env there), on a copy of the built database, with the
    tests step pointed at one planted test file; returns (exit code, output, {step: verdict})."""
    if db is None:
        db = tmp_path / "sim.duckdb"
        shutil.copy(built["db"], db)
    planted = tmp_path / "planted" / "test_planted.py"
    planted.parent.mkdir(exist_ok=True)
    planted.write_text(test_file)
    # the planted test does not use Hypothesis, whose plugin would import all of it at the session's end (1-2 s)
    pytest_args = f"{planted} -p no:cacheprovider -p no:hypothesispytest"
    environment = {k: v for k, v in os.environ.items() if k not in ("DB_PATH", "PLANWISE_DB_PATH", "LOG_LEVEL")}
    environment.update({"PATH": f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
                        "PYTHON": sys.executable, PARSE_CACHE_ENV: str(built["parse_cache"]), **(env or {})})
    done = subprocess.run(["bash", str(SCRIPT), "--db", str(db), "--out", str(tmp_path / "out"),
                           "--census", str(built["census"]),
                           "--pytest-args", pytest_args, *options],
                          cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    verdicts = {m.group(1): m.group(2) for m in ROW.finditer(done.stdout)}
    return done.returncode, output, verdicts


def assert_failed(code: int, output: str, verdicts: dict, failing: list[str]) -> None:
    assert code == 1, output
    assert verdicts == {s: "FAIL" if s in failing else "pass" for s in STEPS}, output
    assert output.splitlines()[-1] == f"validate_production: FAILED: {' '.join(failing)}", output
    assert "all 4 steps passed" not in output


def model_digest(db: Path) -> tuple:
    """The simulated tables' content: what a validation must never change."""
    with duckdb.connect(str(db), read_only=True) as con:
        return tuple(con.execute(f"select count(*), sum(hash(t)) from {table} t").fetchone()
                     for table in ("fct_workforce_snapshot", "fct_yearly_events"))


def test_a_good_database_passes_every_step(tmp_path, built):
    db = tmp_path / "sim.duckdb"
    shutil.copy(built["db"], db)
    before = model_digest(db)
    # a limit no machine's load can break: the step's verdict is about the run, not this machine's speed
    code, output, verdicts = validate(tmp_path, built, "--time-limit", "86400", db=db)
    assert code == 0, output
    assert verdicts == dict.fromkeys(STEPS, "pass"), output
    assert output.splitlines()[-1] == "validate_production: all 4 steps passed"
    out = tmp_path / "out"
    for step in STEPS:  # each step's evidence is its output, ending with its verdict
        evidence = (out / f"{step}.txt").read_text()
        assert evidence.splitlines()[-1].startswith("verdict: pass (exit 0"), evidence
        assert f"{out / step}.txt" in output
    assert "dbt-core: installed" in (out / "environment.txt").read_text()
    assert "1 passed" in (out / "tests.txt").read_text()
    assert "PASS=11" in (out / "data_quality.txt").read_text()
    assert re.search(r"one simulated year: [0-9.]+ s < limit 86400 s", (out / "performance.txt").read_text())
    assert (out / "report.txt").read_text() in output
    assert model_digest(db) == before  # dbt test and planwise check only read the model tables


def test_a_missing_variable_and_a_planted_bad_row_fail_their_steps_and_only_those(tmp_path, built):
    """Two steps broken in one validation (each step runs whatever the others found): a required variable nobody
    set fails the environment step, and the perf run refuses to start without it too (exit 2), as `planwise run`
    would in production; a NULL pay planted in the database fails the data_quality step; the tests step passes."""
    config = tmp_path / "config.yaml"
    config.write_text(f"environment:\n  required: [{UNSET}]\n")
    db = tmp_path / "sim.duckdb"
    shutil.copy(built["db"], db)
    with duckdb.connect(str(db)) as con:
        con.execute("update fct_workforce_snapshot set current_compensation = null where employee_id = "
                    "(select min(employee_id) from fct_workforce_snapshot)")
    code, output, verdicts = validate(tmp_path, built, "--config", str(config), db=db, env={UNSET: ""})
    assert_failed(code, output, verdicts, ["environment", "data_quality", "performance"])
    assert f"environment: FAIL missing required environment variable {UNSET}" in output
    assert "performance: FAIL planwise run exited 2" in output
    evidence = (tmp_path / "out" / "data_quality.txt").read_text()
    # dbt's critical test and the quality gate both name what they caught, on screen too
    assert "data_quality: FAIL dbt test --select tag:critical: not_null_fct_workforce_snapshot_current_compensation" \
        in output
    assert "data_quality: FAIL planwise check: quality gate null_comp_count failed for 2025" in output
    assert "\x1b[" not in evidence  # plain text evidence, no terminal colours


def test_a_failing_smoke_test_and_an_impossible_time_limit_fail_their_steps_and_only_those(tmp_path, built):
    code, output, verdicts = validate(tmp_path, built, "--time-limit", "0.001", test_file=FAILING_TEST)
    assert_failed(code, output, verdicts, ["tests", "performance"])
    assert "planted failure" in (tmp_path / "out" / "tests.txt").read_text()
    assert re.search(r"performance: FAIL one simulated year took [0-9.]+ s, limit 0.001 s", output), output


@pytest.mark.parametrize("options, message", [
    (["--time-limit", "soon"], "--time-limit expects a number of seconds > 0, got 'soon'"),
    (["--time-limit", "0"], "--time-limit expects a number of seconds > 0, got '0'"),
    (["--frobnicate"], "unknown argument '--frobnicate'"),
    (["--config"], "--config needs a value"),
    (["--config", "missing.yaml"], "--config missing.yaml: no such file"),
    (["--pytest-args", "-k 'unclosed"], "--pytest-args: cannot split '-k 'unclosed': No closing quotation"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, options, message):
    done = subprocess.run(["bash", str(SCRIPT), "--out", str(tmp_path / "out"), *options], cwd=tmp_path,
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == f"validate_production: error: {message} (see 'validate_production.sh --help')\n"
    assert done.stdout == "" and not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_help_documents_every_option():
    done = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0
    for option in ("--db PATH", "--config PATH", "--out DIR", "--time-limit SECONDS", "--census PATH",
                   "--pytest-args ARGS"):
        assert option in done.stdout
    assert re.search(r"--time-limit SECONDS .*\(default 60\)", done.stdout), done.stdout
