"""The orchestrator's dbt speed-ups (`dbt_fast_paths`) change nothing dbt does or says: the same dbt command
(`run`, `build`, `seed`, `test`, a failing model; 1 and 4 threads), in one child process as shipped (the `dbt`
script) and in another with every speed-up installed, ends with the same exit code and writes the same events
(every field but times, durations, process and invocation ids) at debug level, the same compiled SQL and the same
tables; and that comparison fails when a speed-up is broken."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.dbt_layer import dbt_fast_paths
from navigator_orchestrator.safety.digest import marts_digest
from navigator_orchestrator.inputs.paths import DBT_DIR
from pytest_planwise.commands import command_environment, completed
from support.commands import ForkedProcess, copy_dbt_project, plain_dbt

FAST_DBT = """import sys
from navigator_orchestrator.dbt_layer import dbt_fast_paths
states = dbt_fast_paths.install()
assert set(states.values()) == {"on"}, states
{sabotage}
from dbt.cli.main import cli
sys.argv[0] = "dbt"
sys.exit(cli())
"""
# every event written out as JSON
LOGGING = ("--log-level-file", "debug", "--log-format-file", "json")
# what differs between two invocations of the same command whatever the code: when, where and as which process
VOLATILE_INFO = ("ts", "pid", "thread", "invocation_id", "extra")
VOLATILE_EVENTS = ("ResourceReport", "MainReportArgs")  # process counters; the arguments in a process-random order
# dbt's connection pool, keyed by thread ident: a new pool thread that gets a finished thread's ident (its stack
# address, reused or not by luck) reuses that thread's connection, so dbt as shipped acquires, reopens and closes
# one connection more or less from run to run (seen once in six suites); the statements and their connections stay
POOL_EVENTS = ("NewConnection", "ConnectionReused", "NewConnectionOpening", "ConnectionClosed", "ConnectionLeftOpen",
               "ConnectionClosedInCleanup", "ConnectionLeftOpenInCleanup")
# clock times, and durations in messages ("in 0.05s"); a duration field is zeroed by its name (DURATIONS)
CLOCK = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?|\d\d:\d\d:\d\d(\.\d+)?")
ELAPSED = re.compile(r"\b\d+\.\d+ ?s(econds)?\b")
# "9 of 16 START ... [RUN]": the start order (chance with 4 threads), and the dots padding its line to one width
POSITION = re.compile(r"\b\d+ of (\d+) ")
PADDING = re.compile(r" \.* *(?=\[)")
DURATIONS = ("execution_time", "elapsed", "elapsed_time")
# a year of a small run's database, and what each command is run on (`build`: seeds, every model, every test)
CASES = {
    "run": ("run", "--vars", "{simulation_year: 2025}"),
    "build": ("build", "--vars", "{simulation_year: 2025}", "--full-refresh"),
    "seed": ("seed",),
    "test": ("test", "--vars", "{simulation_year: 2025}"),
    "failing model": ("run", "--vars", "{simulation_year: 2025}"),
}
BROKEN_MODEL = Path("models") / "intermediate" / "int_workforce_needs.sql"


def events(log: Path, work: Path, attributed: bool = True) -> list[str]:
    """The invocation's dbt events as JSON texts, times, durations, process data and the work folder blanked,
    sorted: nodes run in parallel finish in any order. Not `attributed` (several threads): a statement's connection
    is left out, since the first node thread to need one of the adapter's once-per-invocation lookups (the
    databases, the constraints) runs it on its own connection."""
    kept = []
    for line in log.read_text().replace(str(work), "WORK").splitlines():
        event = json.loads(line)
        if event["info"]["name"] in VOLATILE_EVENTS + POOL_EVENTS:
            continue
        for key in VOLATILE_INFO:
            event["info"].pop(key, None)
        if not attributed and event["info"]["name"].startswith(("SQL", "Connection")):
            event["data"].pop("node_info", None)
            connection = event["data"].pop("conn_name", None)
            if connection:
                event = json.loads(json.dumps(event).replace(connection, "CONNECTION"))
        text = json.dumps(_no_durations(event), sort_keys=True)
        kept.append(PADDING.sub(" ", POSITION.sub(r"N of \1 ", CLOCK.sub("T", ELAPSED.sub("Ts", text)))))
    return sorted(kept)


def _no_durations(value, key: str = ""):
    """The event without durations, pool thread names and start positions (which of 4 threads runs a node, and when
    it starts, are chance), the end result's node results in a stable order."""
    if isinstance(value, dict):
        return {name: _no_durations(item, name) for name, item in value.items() if name not in ("thread", "index")}
    if isinstance(value, list):
        items = [_no_durations(item, key) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True)) if key == "results" else items
    return 0 if key in DURATIONS and isinstance(value, (int, float)) else value


def compiled(work: Path) -> dict[str, str]:
    target = work / "target"
    return {str(path.relative_to(target)): path.read_text() for path in sorted(target.rglob("*.sql"))}


def tables(db: Path) -> dict[str, tuple[int, int]]:
    """Every table's row count and content digest (the run's, the seeds', the tests' stored failures)."""
    from navigator_orchestrator.safety.digest import table_digest

    with duckdb.connect(str(db), read_only=True) as con:
        names = [f"{schema}.{name}" for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() order by all").fetchall()]
        return {name: table_digest(con, name, "true") for name in names}


def shipped_and_fast(source: Path, tmp_path: Path, args: tuple[str, ...], project: Path = DBT_DIR,
                     sabotage: str = "", attributed: bool = True) -> dict[str, tuple]:
    """The same dbt command on two copies of `source`: dbt as shipped (its `dbt` script) and dbt with every speed-up
    installed; per side (exit code, events, compiled SQL, tables)."""
    script = tmp_path / "fast_dbt.py"
    script.write_text(FAST_DBT.replace("{sabotage}", sabotage))
    seen = {}
    for name in ("shipped", "fast"):
        work = tmp_path / name
        work.mkdir()
        db = work / "simulation.duckdb"
        shutil.copy(source, db)
        argv = [*args, *LOGGING, "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
        if name == "shipped":
            done = plain_dbt(*args, *LOGGING, db=db, work=work, project=project)
        else:
            done = completed(ForkedProcess(argv, project, command_environment({"DB_PATH": str(db)}), script=script),
                             timeout=None)
        seen[name] = (done.returncode, events(work / "logs" / "dbt.log", work, attributed), compiled(work), tables(db))
    return seen


@pytest.fixture(scope="module")
def year_database(planwise_run):
    run = planwise_run(years="2025-2025", employees=300)
    assert run.status == "success", run.errors
    return run.db_path


@pytest.mark.parametrize("threads", ["1", "4"])
@pytest.mark.parametrize("case", CASES)
def test_speedups_write_the_same_events_sql_and_rows_as_dbt_as_shipped(year_database, tmp_path, case, threads):
    project = DBT_DIR
    if case == "failing model":
        project = copy_dbt_project(tmp_path / "project")
        model = project / BROKEN_MODEL
        model.write_text(model.read_text().replace("target_net_growth", "no_such_column + target_net_growth", 1))
    seen = shipped_and_fast(year_database, tmp_path, (*CASES[case], "--threads", threads), project,
                            attributed=threads == "1")
    shipped, fast = seen["shipped"], seen["fast"]
    assert shipped[0] == (1 if case == "failing model" else 0), shipped[1][-5:]
    names = {json.loads(event)["info"]["name"] for event in shipped[1]}
    assert {"NodeStart", "NodeFinished"} <= names and ("SQLQuery" in names or case == "failing model")
    assert fast[0] == shipped[0]
    assert fast[1] == shipped[1]
    assert fast[2] == shipped[2]
    assert fast[3] == shipped[3]
    if case in ("run", "build"):
        assert len(shipped[2]) >= 16  # each model's compiled and run SQL


# a bug each speed-up could have: a field the direct events leave unset, a compiled template reused for another
# source, a context whose SQL is not read anew
SABOTAGE = {
    "events": "from dbt_common.events import event_manager\nfast = event_manager.msg_from_base_event\n"
              "def unset_code(event, level=None):\n    message = fast(event, level)\n    message.info.code = ''\n"
              "    return message\nevent_manager.msg_from_base_event = unset_code",
    "templates": "from navigator_orchestrator.dbt_layer import dbt_fast_paths\n"
                 "class SameKey(dict):\n    def get(self, key, default=None):\n"
                 "        return next((v for k, v in self.items() if k[0] is key[0]), default)\n"
                 "dbt_fast_paths._codes = SameKey()",
}


@pytest.mark.parametrize("broken", SABOTAGE)
def test_the_comparison_fails_when_a_speedup_is_broken(year_database, tmp_path, broken):
    seen = shipped_and_fast(year_database, tmp_path, (*CASES["run"], "--threads", "1"), sabotage=SABOTAGE[broken])
    assert seen["shipped"][0] == 0
    assert seen["fast"][1:] != seen["shipped"][1:]


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


FLAG_SOURCES = """import json
import flagged
from navigator_orchestrator.dbt_layer import dbt_fast_paths
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
