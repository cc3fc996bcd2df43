"""The orchestrator's dbt fast paths (`dbt_fast_paths`: compiled model templates reused, events built directly,
plugin modules looked for once) change nothing dbt does or says: the same `dbt run` of a year, in one child process
as shipped (the `dbt` script) and in another with the fast paths installed, writes the same events (every field but
times, process and invocation ids) at debug level, the same compiled SQL and the same rows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator import dbt_fast_paths
from navigator_orchestrator.digest import marts_digest
from navigator_orchestrator.paths import DBT_DIR
from pytest_planwise.commands import command_environment, completed
from support.commands import ForkedProcess, plain_dbt

FAST_DBT = "import sys\nfrom navigator_orchestrator import dbt_fast_paths\ndbt_fast_paths.install()\n" \
           "from dbt.cli.main import cli\nsys.argv[0] = 'dbt'\nsys.exit(cli())\n"
# a year's models in one thread (a stable order of events), every event written out as JSON
ARGS = ("run", "--vars", "{simulation_year: 2025}", "--threads", "1", "--log-level-file", "debug",
        "--log-format-file", "json")
# what differs between two invocations of the same command whatever the code: when, where and as which process
VOLATILE_INFO = ("ts", "pid", "thread", "invocation_id", "extra")
VOLATILE_EVENTS = ("ResourceReport", "MainReportArgs")  # process counters; the arguments in a process-random order
# dbt's connection pool, keyed by thread ident: a new pool thread that gets a finished thread's ident (its stack
# address, reused or not by luck) reuses that thread's connection, so dbt as shipped acquires, reopens and closes
# one connection more or less from run to run (seen once in six suites); the statements and their connections stay
POOL_EVENTS = ("NewConnection", "ConnectionReused", "NewConnectionOpening", "ConnectionClosed", "ConnectionLeftOpen",
               "ConnectionClosedInCleanup", "ConnectionLeftOpenInCleanup")
# timestamps, clock times and durations (in messages and fields alike)
TIMES = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?|\d\d:\d\d:\d\d(\.\d+)?|\d+\.\d+")


def events(log: Path, work: Path) -> list[dict]:
    """The run's dbt events as JSON, with times, counters and the work folder's path blanked."""
    kept = []
    for line in log.read_text().replace(str(work), "WORK").splitlines():
        event = json.loads(line)
        if event["info"]["name"] in VOLATILE_EVENTS + POOL_EVENTS:
            continue
        for key in VOLATILE_INFO:
            event["info"].pop(key, None)
        kept.append(json.loads(TIMES.sub("T", json.dumps(_no_floats(event), sort_keys=True))))
    return kept


def _no_floats(value):
    if isinstance(value, dict):
        return {key: _no_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_no_floats(item) for item in value]
    return 0 if isinstance(value, float) else value


def compiled(work: Path) -> dict[str, str]:
    target = work / "target"
    return {str(path.relative_to(target)): path.read_text() for path in sorted(target.rglob("*.sql"))}


def test_fast_paths_write_the_same_events_sql_and_rows_as_dbt_as_shipped(planwise_run, tmp_path):
    run = planwise_run(years="2025-2025", employees=300)
    assert run.status == "success", run.errors
    works = {name: tmp_path / name for name in ("shipped", "fast")}
    for work in works.values():
        work.mkdir()
        shutil.copy(run.db_path, work / "simulation.duckdb")
    shipped = plain_dbt(*ARGS, db=works["shipped"] / "simulation.duckdb", work=works["shipped"])
    script = tmp_path / "fast_dbt.py"
    script.write_text(FAST_DBT)
    argv = [*ARGS, "--target-path", str(works["fast"] / "target"), "--log-path", str(works["fast"] / "logs")]
    fast = completed(ForkedProcess(argv, DBT_DIR, command_environment({"DB_PATH": str(works["fast"] /
                                                                                       "simulation.duckdb")}),
                                   script=script), timeout=None)
    for done in (shipped, fast):
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    said = {name: events(work / "logs" / "dbt.log", work) for name, work in works.items()}
    names = [event["info"]["name"] for event in said["shipped"]]
    assert {"SQLQuery", "NodeStart", "NodeFinished", "LogModelResult"} <= set(names)  # debug level: every event
    assert said["fast"] == said["shipped"]
    assert compiled(works["fast"]) == compiled(works["shipped"])
    assert len(compiled(works["fast"])) >= 16  # each model's compiled and run SQL
    digests = {}
    for name, work in works.items():
        with duckdb.connect(str(work / "simulation.duckdb"), read_only=True) as con:
            digests[name] = marts_digest(con, 2025)
    with duckdb.connect(str(run.db_path), read_only=True) as con:
        assert digests["fast"] == digests["shipped"] == marts_digest(con, 2025)


def test_an_edited_model_is_compiled_anew_in_the_same_process(tmp_path):
    """Templates are reused by their source: a model edited between two runs of one process gives the edited SQL."""
    from navigator_orchestrator.cli import run_cli
    from support.commands import copy_dbt_project
    from pytest_planwise.runs import census_file

    project = copy_dbt_project(tmp_path)
    census = census_file(tmp_path, 60, 42)
    model = project / "models" / "intermediate" / "int_workforce_needs.sql"
    growth = {}
    for edit in ("", " + 7"):
        if edit:
            text = model.read_text()
            assert text.count("g_count as target_net_growth") == 1
            model.write_text(text.replace("g_count as target_net_growth", f"g_count{edit} as target_net_growth"))
        db = tmp_path / f"run{len(growth)}" / "simulation.duckdb"
        db.parent.mkdir()
        code = run_cli(["run", "--years", "2025-2025", "--census", str(census), "--db", str(db), "--no-backup",
                        "--dbt-project", str(project)])
        assert code == 0
        with duckdb.connect(str(db), read_only=True) as con:
            growth[edit] = con.execute("select target_net_growth from int_workforce_needs").fetchone()[0]
    assert growth[" + 7"] == growth[""] + 7
    assert any("g_count + 7 as target_net_growth" in source for _, source in dbt_fast_paths._codes)  # the fast path


def quoted(expression: str) -> str:
    """Jinja that renders `expression`'s value as a SQL string literal."""
    return "{{ \"'\" ~ (" + expression + " | string | replace(\"'\", \"''\")) ~ \"'\" }}"


def test_a_materialization_sees_the_compiled_model_as_dbt_gives_it(tmp_path):
    """The execution reuses the compilation's context: a post-hook of int_workforce_needs (rendered in its
    materialization) stores the context's `compiled_code`, `sql` and `model.compiled_code`; each is the SQL dbt
    compiled for the model (its target/compiled file), not the compile-time None."""
    import yaml

    from navigator_orchestrator.cli import run_cli
    from support.commands import copy_dbt_project
    from pytest_planwise.runs import census_file

    project = copy_dbt_project(tmp_path)
    settings = yaml.safe_load((project / "dbt_project.yml").read_text())
    hook = (f"create or replace table hook_saw as select {quoted('compiled_code')} as compiled_code, "
            f"{quoted('sql')} as sql, {quoted('model.compiled_code')} as model_compiled_code")
    settings["models"]["planwise"]["intermediate"]["int_workforce_needs"] = {"+post-hook": hook}
    (project / "dbt_project.yml").write_text(yaml.safe_dump(settings))
    db = tmp_path / "run" / "simulation.duckdb"
    db.parent.mkdir()
    code = run_cli(["run", "--years", "2025-2025", "--census", str(census_file(tmp_path, 60, 42)), "--db", str(db),
                    "--no-backup", "--dbt-project", str(project)])
    assert code == 0
    (written,) = (db.parent / "artifacts").glob("runs/*/dbt/target/compiled/planwise/models/intermediate/"
                                                "int_workforce_needs.sql")
    with duckdb.connect(str(db), read_only=True) as con:
        saw = con.execute("select compiled_code, sql, model_compiled_code from hook_saw").fetchone()
    assert "target_net_growth" in written.read_text()
    assert saw == (written.read_text(),) * 3


def test_dbt_looks_for_plugin_modules_once_per_search_path(tmp_path, monkeypatch):
    """dbt lists every folder of sys.path for `dbt_*` plugin modules at each invocation; with the fast paths a
    second lookup lists nothing and gives the same modules, and a changed sys.path is listed again (a plugin module
    in a new folder is found)."""
    import pkgutil
    import sys

    from dbt.plugins.manager import PluginManager

    dbt_fast_paths.install()
    listings = []
    iter_modules = pkgutil.iter_modules
    monkeypatch.setattr(pkgutil, "iter_modules", lambda *args: listings.append(args) or iter_modules(*args))
    (tmp_path / "dbt_planwise_probe.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = PluginManager.get_prefixed_modules()
        again = PluginManager.get_prefixed_modules()
    finally:
        sys.modules.pop("dbt_planwise_probe", None)
    assert {"dbt_planwise_probe", "dbt_common"} <= set(found) and again == found
    assert len(listings) == 1


FLAG_SOURCES = """import json
import flagged
from navigator_orchestrator import dbt_fast_paths
shipped = flagged.sources()
dbt_fast_paths.install()
print(json.dumps([shipped, flagged.sources()]))
"""
FLAGGED = """from dbt_common.behavior_flags import Behavior


def sources():
    flags = Behavior([{"name": "off", "default": False, "description": "d"},
                      {"name": "named", "default": False, "description": "d", "source": "declared.here"}], {})
    return [flags.off._behavior_change_event.flag_source, flags.named._behavior_change_event.flag_source]
"""


def test_behavior_flags_name_the_module_that_declared_them_as_dbt_does(tmp_path):
    """A flag without a source is named after the first module on the stack above dbt_common's behavior_flags
    (an adapter's `impl`, say); the fast path finds the same module as dbt's `inspect.stack()` walk."""
    (tmp_path / "flagged.py").write_text(FLAGGED)
    script = tmp_path / "flag_sources.py"
    script.write_text(FLAG_SOURCES)
    done = completed(ForkedProcess([], tmp_path, command_environment(None), script=script), timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [["flagged", "declared.here"]] * 2


def test_statements_that_fetch_nothing_share_one_empty_immutable_table():
    """dbt's empty result (agate_helper.empty_table) is one table after install: no columns, no rows, as dbt's own,
    and immutable (agate gives a new table for any change, so no statement's result can alter another's)."""
    import agate
    from dbt_common.clients import agate_helper

    shipped = agate.Table(rows=[])
    dbt_fast_paths.install()
    first, second = agate_helper.empty_table(), agate_helper.empty_table()
    assert first is second and isinstance(first, agate.Table)
    assert (first.column_names, len(first.rows)) == (shipped.column_names, len(shipped.rows)) == ((), 0)
    with pytest.raises((AttributeError, TypeError)):
        first.rows.append(("a row",))
