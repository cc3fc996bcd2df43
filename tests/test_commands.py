"""The `planwise` children of the plugin (pytest_planwise.commands): plain subprocesses for users, children of the
tests' fork server (tests/support) in this suite, which must behave as processes a user starts. Each test here
would fail if a child were the test process itself, shared its working directory or environment, kept the
server's imports when its PYTHONPATH shadows them or the server's start-up settings when its environment differs,
or could report another child's exit; or if the installed plugin needed the tests' folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from navigator_orchestrator.inputs import paths
from navigator_orchestrator.inputs.census import generate_census
from pytest_planwise.commands import command_environment, completed, planwise_command, planwise_process
import support
from support.commands import DBT_SCRIPT, ForkedProcess

TESTS = Path(support.__file__).parent.parent  # the tests' folder whose `support` this is


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


REUSED_PID = """import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])  # tests/, for `support`
from pytest_planwise.commands import command_environment
from support.commands import ForkedProcess

here, env = Path(sys.argv[2]), command_environment(None)
first = ForkedProcess([], here, env, script=here / "exits_3.py")
first_code = first.wait(timeout=120)
# this namespace's next pid is the first child's (the server reaped it): the second child gets it
Path("/proc/sys/kernel/ns_last_pid").write_text(str(first.pid - 1))
second = ForkedProcess([], here, env, script=here / "sleeps.py")
running = second.poll()
os.kill(second.pid, 9)
print(json.dumps({"pids": [first.pid, second.pid], "codes": [first_code, running, second.wait(timeout=120)]}))
"""


def test_a_child_that_gets_an_ended_childs_pid_reports_its_own_exit(tmp_path):
    """The second child gets the first one's pid (in a pid namespace of their own, whose next pid the test sets):
    while it runs it has no exit code, and its exit is its own, never the first child's 3."""
    probe = subprocess.run(["unshare", "-Urpf", "--mount-proc", "true"], capture_output=True, text=True)
    assert probe.returncode == 0, f"this test needs util-linux's `unshare` with user and pid namespaces: {probe.stderr}"
    (tmp_path / "exits_3.py").write_text("raise SystemExit(3)\n")
    (tmp_path / "sleeps.py").write_text("import time\ntime.sleep(300)\n")
    (tmp_path / "reused_pid.py").write_text(REUSED_PID)
    done = subprocess.run(["unshare", "-Urpf", "--mount-proc", sys.executable, str(tmp_path / "reused_pid.py"),
                           str(TESTS), str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pids"][0] == report["pids"][1], report  # the pid was reused
    assert report["codes"] == [3, None, -signal.SIGKILL], report


SETTINGS_PROBE = """import json, locale, os, sys, tempfile, time

def stream(s):
    return {"buffer": type(s.buffer).__name__, "write_through": s.write_through,
            "line_buffering": s.line_buffering, "encoding": s.encoding, "errors": s.errors}

import probe_target  # a module of this folder: is its bytecode written beside it?
report = {
    "flags": {name: getattr(sys.flags, name, None) for name in (
        "debug", "inspect", "interactive", "optimize", "no_user_site", "no_site", "ignore_environment", "verbose",
        "bytes_warning", "quiet", "hash_randomization", "isolated", "dev_mode", "utf8_mode",
        "warn_default_encoding", "safe_path", "int_max_str_digits")},
    "__debug__": __debug__, "stdout": stream(sys.stdout), "stderr": stream(sys.stderr),
    "stdin": [sys.stdin.encoding, sys.stdin.errors], "tempdir": tempfile.gettempdir(),
    "tz": [time.tzname, time.timezone, time.daylight], "warnoptions": sys.warnoptions,
    "encodings": [sys.getfilesystemencoding(), locale.getpreferredencoding(False)],
    "bytecode beside the source": os.path.isdir(os.path.join(os.path.dirname(__file__), "__pycache__")),
}
if os.environ.get("PYTHONHASHSEED", "random") != "random":  # else each fresh interpreter's own random one
    report["hash"] = hash("planwise")
print(json.dumps(report))
"""


def _toggled(name: str) -> str | None:
    """The variable set if this (the server's) environment has it unset, unset if set."""
    return None if os.environ.get(name) else "1"


# (variable, the child's value: a function of tmp_path, and whether a forked child can take it on after the fork)
START_SETTINGS = {
    "unchanged": (None, lambda tmp: None, True),
    "TMPDIR": ("TMPDIR", lambda tmp: str(tmp / "own_tmp"), True),
    "PYTHONUNBUFFERED": ("PYTHONUNBUFFERED", lambda tmp: _toggled("PYTHONUNBUFFERED"), True),
    "PYTHONDONTWRITEBYTECODE": ("PYTHONDONTWRITEBYTECODE", lambda tmp: _toggled("PYTHONDONTWRITEBYTECODE"), True),
    "TZ": ("TZ", lambda tmp: "EST+05EDT,M3.2.0,M11.1.0", True),
    "PYTHONHASHSEED": ("PYTHONHASHSEED", lambda tmp: "4242", False),
    "PYTHONOPTIMIZE": ("PYTHONOPTIMIZE", lambda tmp: _toggled("PYTHONOPTIMIZE"), False),
    "PYTHONWARNINGS": ("PYTHONWARNINGS", lambda tmp: "error::DeprecationWarning", False),
    "PYTHONIOENCODING": ("PYTHONIOENCODING", lambda tmp: "latin-1:replace", False),
    "PYTHONUTF8": ("PYTHONUTF8", lambda tmp: _toggled("PYTHONUTF8"), False),
    "LC_ALL": ("LC_ALL", lambda tmp: "C", False),
}


@pytest.mark.parametrize("case", START_SETTINGS)
def test_a_child_has_the_interpreter_start_settings_of_its_own_environment(tmp_path, case):
    """What Python reads from the environment only when it starts (stdio buffering and encoding, the str hash
    seed, -O, -W, UTF-8 mode, the locale, the temporary folder and time zone its modules cache, whether bytecode
    is written): a child whose environment differs from the server's in one of them reports what a fresh
    interpreter started with that environment reports; one of those a forked child can take on is still forked."""
    name, value, forked = START_SETTINGS[case]
    (tmp_path / "own_tmp").mkdir()
    env = command_environment({name: value(tmp_path)} if name else None)
    reports = {}
    for how in ("fresh", "child"):
        folder = tmp_path / how
        folder.mkdir()
        (folder / "probe.py").write_text(SETTINGS_PROBE)
        (folder / "probe_target.py").write_text("VALUE = 1\n")
        if how == "fresh":
            done = subprocess.run([sys.executable, str(folder / "probe.py")], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=120)
        else:
            child = ForkedProcess([], folder, env, script=folder / "probe.py")
            done = completed(child, timeout=120)
        assert done.returncode == 0, done.stderr
        reports[how] = json.loads(done.stdout)
    assert reports["child"] == reports["fresh"]
    assert child.fresh_interpreter is not forked


PLUGIN_ALONE = """import importlib, json, pkgutil, sys
from pathlib import Path
import pytest_planwise
from pytest_planwise import commands

modules = sorted(module.name for module in pkgutil.iter_modules(pytest_planwise.__path__))
for name in modules:
    importlib.import_module(f"pytest_planwise.{name}")
child = commands.planwise_process(["--help"], Path.cwd())
stdout, _ = child.communicate(timeout=120)
tests = sorted(name for name in sys.modules if name.partition(".")[0] in ("support", "tests"))
print(json.dumps({"modules": modules, "child": f"{type(child).__module__}.{type(child).__name__}",
                  "from the tests": tests, "code": child.returncode, "usage": stdout.startswith("usage: planwise")}))
"""


def test_the_plugin_alone_has_no_fork_server_and_starts_plain_subprocesses(tmp_path):
    """Outside this checkout's tests (a folder of its own, no PYTHONPATH), every module of the plugin imports,
    none of them is the fork server or comes from tests/, and `planwise_process` is a plain subprocess."""
    (tmp_path / "alone.py").write_text(PLUGIN_ALONE)
    done = subprocess.run([sys.executable, str(tmp_path / "alone.py")], cwd=tmp_path, capture_output=True,
                          text=True, env=command_environment({"PYTHONPATH": None}), timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {"commands", "dbt_tests", "fixtures", "plugin"} <= set(report["modules"]), report
    assert "forkserver" not in report["modules"] and report["from the tests"] == [], report
    assert (report["child"], report["code"], report["usage"]) == ("subprocess.Popen", 0, True), report
