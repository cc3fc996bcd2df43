"""The plugin's `planwise` children (pytest_planwise.commands): forked by the fork server, they must behave as
processes a user starts. Each test here would fail if a child were the test process itself, shared its working
directory or environment, or kept the server's imports when its PYTHONPATH shadows them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from navigator_orchestrator import paths
from navigator_orchestrator.census import generate_census
from pytest_planwise.commands import (DBT_SCRIPT, ForkedProcess, command_environment, completed, planwise_command,
                                      planwise_process)


def test_a_child_is_its_own_process_with_its_own_folder_environment_and_exit_code(tmp_path):
    (tmp_path / ".env").write_text(f"DB_PATH={tmp_path / 'from_dotenv.duckdb'}\n")
    done = planwise_command(["check", "--years", "2025"], tmp_path, {"PLANWISE_TEST_FAULT": "backup:enospc"})
    assert done.returncode == 2, done.stderr
    assert f"no database at {tmp_path / 'from_dotenv.duckdb'}" in done.stderr  # the child's cwd read .env
    assert "DB_PATH" not in os.environ or os.environ["DB_PATH"] != str(tmp_path / "from_dotenv.duckdb")
    assert "PLANWISE_TEST_FAULT" not in os.environ  # set for the child only

    running = planwise_process(["run", "--years", "2025-2025", "--census", tmp_path / "missing.parquet", "--db",
                                tmp_path / "sim.duckdb"], tmp_path)
    assert isinstance(running, ForkedProcess) and running.pid != os.getpid()
    running.wait(timeout=120)
    assert running.returncode == 2 and "missing.parquet" in running.communicate()[1]


def test_a_sigkilled_child_reports_the_signal_like_subprocess(tmp_path):
    census = generate_census(50, 1, tmp_path / "census.parquet")
    running = planwise_process(["run", "--years", "2025-2025", "--db", tmp_path / "sim.duckdb", "--census", census],
                               tmp_path, new_session=True)
    assert running.poll() is None
    os.killpg(running.pid, signal.SIGKILL)  # its own session: the group is the child alone
    assert running.wait(timeout=60) == -signal.SIGKILL


def test_a_child_that_outlives_its_timeout_shows_its_stacks_with_the_failure(tmp_path, capsys):
    """The test's stderr gets what the child said on stderr, then the stack of each of its threads (it is sent
    SIGUSR1, on which the CLI prints them, as this child does)."""
    script = tmp_path / "stuck.py"
    script.write_text("import faulthandler, signal, sys, time\n"
                      "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
                      "print('started', file=sys.stderr, flush=True)\n"
                      "def waiting_here():\n    time.sleep(300)\nwaiting_here()\n")
    child = ForkedProcess([], tmp_path, command_environment(None), script=script)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=2)
    finally:
        child.kill()
    assert child.wait(timeout=60) == -signal.SIGKILL
    shown = capsys.readouterr().err
    assert f"pid {child.pid} still running after 2 s" in shown and "started" in shown, shown
    assert "(most recent call first)" in shown and "waiting_here" in shown, shown


def test_another_pythonpath_imports_its_own_package(tmp_path):
    """The CLI's package is not imported by the server: a child given a copy on its PYTHONPATH runs the copy."""
    copy = tmp_path / "copy"
    shutil.copytree(paths.PROJECT_ROOT / "navigator_orchestrator", copy / "navigator_orchestrator",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "dbt").mkdir()  # a project's dbt/ folder next to it (no __init__.py): shadows nothing
    cli = copy / "navigator_orchestrator" / "cli.py"
    cli.write_text(cli.read_text().replace("PlanWise Navigator: multi-year", "The copy's planwise: multi-year"))
    mine = planwise_command(["--help"], tmp_path)
    theirs = planwise_command(["--help"], tmp_path, {"PYTHONPATH": str(copy)})
    assert mine.returncode == 0 and "PlanWise Navigator: multi-year" in mine.stdout
    assert theirs.returncode == 0 and "The copy's planwise: multi-year" in theirs.stdout, theirs.stderr


@pytest.mark.parametrize("where", ["PYTHONPATH", "working directory"])
def test_a_folder_that_shadows_an_imported_module_gets_a_fresh_interpreter(tmp_path, where):
    """The server imported `argparse` long before; a child whose PYTHONPATH or working directory has its own
    argparse.py must import it, as a fresh interpreter would (here it stops the child), not keep the server's."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "argparse.py").write_text("raise SystemExit('the shadowing argparse.py was imported')\n")
    if where == "PYTHONPATH":
        child = planwise_process(["--help"], tmp_path, {"PYTHONPATH": str(shadow)})
    else:
        child = planwise_process(["--help"], shadow)
    done = completed(child)
    assert done.returncode == 1 and "the shadowing argparse.py was imported" in done.stderr, done.stderr
    assert child.fresh_interpreter


def test_a_child_that_cannot_start_says_why_in_its_own_stderr(tmp_path):
    done = planwise_command(["--help"], tmp_path / "no_such_folder")
    assert done.returncode == 1 and f"No such file or directory: '{tmp_path / 'no_such_folder'}'" in done.stderr


def test_the_dbt_script_runs_as_python_runs_a_script(tmp_path):
    """plain_dbt's child: the interpreter's `dbt` console script, run as `python <script>` runs it, forked (the
    script's folder, the interpreter's bin/, shadows nothing the server imported); given a PYTHONPATH that shadows
    an import, that script gets a fresh interpreter."""
    child = ForkedProcess(["--version"], tmp_path, dict(os.environ), script=DBT_SCRIPT)
    version = completed(child)
    assert version.returncode == 0 and "installed: " in version.stdout, version.stdout + version.stderr
    assert version.args[:2] == [sys.executable, str(DBT_SCRIPT)]
    assert not child.fresh_interpreter, "a plain dbt child execs a fresh interpreter: it pays the dbt import"
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "argparse.py").write_text("raise SystemExit('the shadowing argparse.py was imported')\n")
    child = ForkedProcess(["--version"], tmp_path, {**os.environ, "PYTHONPATH": str(shadow)}, script=DBT_SCRIPT)
    done = completed(child)
    assert done.returncode == 1 and "the shadowing argparse.py was imported" in done.stderr, done.stderr
    assert child.fresh_interpreter


def test_a_childs_full_parse_runs_dbts_static_parser(tmp_path):
    """The server's own dbt parse keeps off the static parser (a native extension that hangs in a forked child
    once its parent used it): a child's full parse of the project, static parser on as by default, finishes."""
    work = tmp_path / "work"
    env = {**os.environ, "DB_PATH": str(tmp_path / "never_built.duckdb")}
    done = completed(ForkedProcess(["parse", "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
                                   paths.DBT_DIR, env, script=DBT_SCRIPT), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    perf = json.loads((work / "target" / "perf_info.json").read_text())
    assert perf["is_partial_parse_enabled"] and perf["static_analysis_path_count"] > 0, perf


WARM_UP_REPORT = """
import json
from dbt.contracts.graph import nodes
from dbt_common.clients.jinja import template_cache

kinds = ("ModelNode", "SeedNode", "GenericTestNode", "SingularTestNode", "SourceDefinition", "Macro")
# mashumaro's code for a node kind's fields is generated the first time one is read (its resource_type literal)
print(json.dumps({"kinds without unpack code": [kind for kind in kinds
                                                if not any(name.startswith(f"__unpack_literal_{kind}_")
                                                           for name in vars(getattr(nodes, kind)))],
                  "templates": len(template_cache.file_cache)}))
"""


def test_a_child_starts_with_dbts_first_use_work_done(tmp_path):
    """What the server's warm-up leaves a child: the code that reads each kind of node the project has back from
    dbt's partial parse cache, generated, and dbt's and the adapter's macros compiled (over 500 in dbt 1.11). The
    same script in a fresh interpreter has none of it, which is what every child would otherwise redo."""
    script = tmp_path / "report_warm_up.py"
    script.write_text(WARM_UP_REPORT)
    forked = ForkedProcess([], tmp_path, dict(os.environ), script=script)
    done = completed(forked)
    assert done.returncode == 0 and not forked.fresh_interpreter, done.stderr
    warm = json.loads(done.stdout)
    assert warm["kinds without unpack code"] == [] and warm["templates"] > 500, warm
    fresh = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stderr
    cold = json.loads(fresh.stdout)
    assert len(cold["kinds without unpack code"]) == 6 and cold["templates"] == 0, cold


BYTECODE_PROBE = """import importlib.util, json, os, sys
cached = importlib.util.cache_from_source(os.path.join(os.path.dirname(__file__), "probe_module.py"))
existed = os.path.exists(cached)
import probe_module
print(json.dumps({"cached": cached, "existed": existed, "value": probe_module.VALUE}))
"""


def test_the_second_child_reads_the_bytecode_the_first_compiled_never_beside_the_source_when_told_not_to(tmp_path):
    """A child compiles a module the server has not imported (the CLI's own, a test's); the next child loads that
    compiled code instead of compiling the source again. With PYTHONDONTWRITEBYTECODE (the server's interpreter
    flag, as the test process's), the code is kept in the server's own folder, never in a `__pycache__` beside the
    source; an edited source is compiled anew."""
    (tmp_path / "probe_module.py").write_text("VALUE = 1\n")
    script = tmp_path / "probe.py"
    script.write_text(BYTECODE_PROBE)

    def child() -> dict:
        done = completed(ForkedProcess([], tmp_path, command_environment(None), script=script), timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first, second = child(), child()
    assert (first["existed"], second["existed"], second["cached"]) == (False, True, first["cached"])
    if sys.dont_write_bytecode:
        assert not (tmp_path / "__pycache__").exists()
        assert not first["cached"].startswith(str(tmp_path))
    (tmp_path / "probe_module.py").write_text("VALUE = 2  # edited\n")
    assert child()["value"] == 2
