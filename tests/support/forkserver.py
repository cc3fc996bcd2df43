"""Child processes without paying dbt's import each time: a fork server for this repository's test suite.

The installed plugin starts its children as plain subprocesses; tests/conftest.py makes them children of this
server (`support.commands.forked_python`), which runs as `python tests/support/forkserver.py FD`.

A test that starts `python -m navigator_orchestrator.cli ...`, plain `dbt` or the dbt test helper waits about 2 s of
every child for Python to import dbt before the program does anything. This server (one per test process, started on
first use) imports dbt (with the tasks a run uses) and DuckDB once, then forks a child per command. Each child is a
real process with its own pid, working directory, environment, stdout and stderr pipes, signals and exit code. It
runs its module as `python -m` does (`runpy`, `__main__`, `sys.path[0]` = its working directory; the CLI unless the
request names another) or its script as `python <script>` does (`sys.path[0]` = the script's folder; the `dbt`
console script), and leaves through the interpreter's normal exit. Nothing of the CLI's own package is imported
before the fork. The server has parsed a small throwaway project twice in a temporary folder, a full parse, then a
partial one that reads it back from dbt's `partial_parse.msgpack` (removed at once; no logs, no connection, and not
through dbt's static parser, whose native extension hangs in a forked child once used in its parent), and has
compiled dbt's and the adapter's macros into dbt's process-wide template cache. A process's first dbt invocations
spend about 0.7 s on work that depends on no project: the JSON schemas dbt validates a project and a profile
against, the adapter's modules, the (de)serialization code generated for each kind of node the first time one is
read from the cache or written out (models, seeds, sources, generic and singular tests, macros: what the throwaway
project has, like the real one) and those macro templates, which every child would repeat. So a child's first
invocation is like a second one in a long-lived process (an ensemble worker, the plugin's in-process runs): dbt
resets its flags, adapter and loggers at every invocation, and the child's own project comes from its disk cache or
is parsed, as in a fresh process. Before each fork the server freezes what it holds (`gc.freeze`): a child's
collections, the last ones at its exit too, then never traverse the objects it inherited, whose every page they
would otherwise copy (a child's exit took 0.55 s instead of 0.08 s). When the child's environment says not to
write bytecode (PYTHONDONTWRITEBYTECODE), it compiles what it imports beyond the server's modules (the CLI's
package, a test's script) into the server's own temporary folder (`sys.pycache_prefix`, removed when the server
ends), never beside the source, and the next child loads that code instead of compiling the same source again
(70-120 ms of each `planwise` child); otherwise it writes bytecode as a fresh interpreter would.

What Python reads from the environment only when it starts comes from the child's environment: its standard
streams are made as start-up makes them (unbuffered under PYTHONUNBUFFERED), `tempfile`'s cached folder is
dropped (TMPDIR is read again) and `time.tzset()` reads its TZ; a child whose environment differs from the
server's in a setting that cannot change after start-up (`_AT_START`: PYTHONHASHSEED, PYTHONOPTIMIZE,
PYTHONWARNINGS, PYTHONIOENCODING, PYTHONUTF8, the locale variables, ...) execs a fresh interpreter. Children whose
environment leaves PYTHONHASHSEED as the server's (unset or `random`, as the suite's are) share the server's
random str hash seed: Python fixes it when the interpreter starts, a fork inherits it, and changing it in place
would break every dict and set already built. A child gets the `sys.path` a fresh interpreter would have in its
folder with its PYTHONPATH; if a folder that only one of them has (its working directory included) holds a module
the server has already imported (the child would otherwise keep the server's), the child execs a fresh
interpreter instead. A fresh interpreter is the same process, pid and streams, only without the saving. A folder
without `__init__.py` (a project's `dbt/`) is a namespace portion and shadows no module.

Protocol: one SOCK_SEQPACKET message per request, {"id", "argv", "cwd", "env", "new_session"} and "module" or
"script" when not the CLI, with the write ends of the child's stdout and stderr pipes attached (SCM_RIGHTS); the
server answers {"id", "pid", "fresh"} once the child is set up (`fresh`: it execs a fresh interpreter) and
{"exit": id, "code"} when it has reaped it (`code` as subprocess gives it: negative for a signal). The id is the
client's, one per request: an exit can never be taken for that of a later child the kernel gives the same pid.
"""

from __future__ import annotations

import gc
import importlib
import importlib.machinery
import io
import json
import os
import runpy
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

_CLI = "navigator_orchestrator.cli"
_FORKED, _FRESH = b"k", b"x"  # what a child tells the server once set up: it runs here, or execs a fresh interpreter
# what every child would otherwise import: dbt, DuckDB, and what a `run` or `seed` adds to a parse (the tasks, the
# adapter's connection, agate's type tester); never the CLI's own package (a child may run a copy of it). Not the
# `build` and `test` tasks: they import `daff`, which the `dbt` script's own folder (the interpreter's bin/, its
# `sys.path[0]`) shadows with a `daff.py` script, so every plain dbt child would exec a fresh interpreter.
_PRELOAD = ("dbt.cli.main", "duckdb", "dbt.task.run", "dbt.task.seed", "dbt.adapters.duckdb.environments.local",
            "dbt_common.clients.agate_helper")


def serve(control: socket.socket) -> None:
    """Fork a child per request until the client closes its end; report every child's exit."""
    for module in _PRELOAD:
        importlib.import_module(module)
    _first_dbt_invocations()
    imported = sorted({name.partition(".")[0] for name in sys.modules})
    bytecode = tempfile.mkdtemp(prefix="planwise-forkserver-bytecode-")
    server = os.getpid()
    try:
        _serve_requests(control, imported, bytecode)
    finally:  # a child leaves through here too (SystemExit): only the server removes the folder
        if os.getpid() == server:
            shutil.rmtree(bytecode, ignore_errors=True)


def _serve_requests(control: socket.socket, imported: list[str], bytecode: str) -> None:
    children: dict[int, str] = {}  # pid -> the request's id, until the server has reaped the child
    while True:
        readable, _, _ = select.select([control], [], [], 0.02)
        if readable:
            message, streams, _, _ = socket.recv_fds(control, 1 << 20, 2)
            if not message:
                return
            request = json.loads(message)
            ready, set_up = os.pipe()
            gc.freeze()  # what the child inherits: never traversed by its collections (nor at its exit: 0.55 s)
            pid = os.fork()
            if pid == 0:
                os.close(ready)
                control.close()
                # never returns: the child leaves through SystemExit (or execs a fresh interpreter)
                _child(request, streams, set_up, imported, bytecode)
            for fd in (set_up, *streams):
                os.close(fd)
            how = os.read(ready, 1)  # like Popen, answer once the child has its session, folder and streams
            os.close(ready)
            children[pid] = request["id"]
            control.send(json.dumps({"id": request["id"], "pid": pid, "fresh": how == _FRESH}).encode())
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:  # keyed by the request: the pid is free for another child from now on
                control.send(json.dumps({"exit": children.pop(pid), "code": os.waitstatus_to_exitcode(status)})
                             .encode())


# the throwaway project: one file of each kind the real project has (see the module docstring)
_WARM_UP_FILES = {
    "dbt_project.yml": "name: warm_up\nversion: '1.0.0'\nprofile: warm_up\n",
    "macros/two.sql": "{% macro two() %}2{% endmacro %}\n",
    "models/one.sql": "select {{ two() }} as one from {{ source('raw', 'rows') }}\n",
    "models/two.sql": "select * from {{ ref('one') }} join {{ ref('levels') }} using (one)\n",
    "models/_models.yml": "version: 2\nsources:\n  - name: raw\n    schema: main\n    tables:\n      - name: rows\n"
                          "models:\n  - name: one\n    config:\n      tags: ['warm']\n    columns:\n      - name: one\n"
                          "        data_tests:\n          - not_null:\n              config: {tags: ['critical']}\n"
                          "          - accepted_values:\n              arguments:\n                values: [2]\n"
                          "          - positive\n",
    "seeds/levels.csv": "one\n2\n",
    "seeds/_seeds.yml": "version: 2\nseeds:\n  - name: levels\n    config:\n      column_types: {one: integer}\n",
    "tests/generic/positive.sql": "{% test positive(model, column_name) %}\n"
                                  "select * from {{ model }} where {{ column_name }} <= 0\n{% endtest %}\n",
    "tests/nothing_left.sql": "select * from {{ ref('two') }} where one <> 2\n",
}


def _first_dbt_invocations() -> None:
    """Parse the throwaway project in a temporary folder, fully then partially, write its nodes out as a run does,
    compile dbt's and the adapter's macros, then remove the folder (see the module docstring)."""
    from dbt.adapters.factory import reset_adapters
    from dbt.cli.main import dbtRunner
    from dbt_common.clients.jinja import template_cache

    folder = Path(tempfile.mkdtemp(prefix="planwise-forkserver-"))
    try:
        for name, text in {**_WARM_UP_FILES, "profiles.yml": f"warm_up:\n  target: t\n  outputs:\n    t:\n"
                           f"      type: duckdb\n      path: {folder / 'never_opened.duckdb'}\n"}.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        for parse in ("full", "partial"):
            heard: list[str] = []
            result = dbtRunner(callbacks=[lambda event: heard.append(event.info.name)]).invoke(
                ["parse", "--project-dir", str(folder), "--profiles-dir", str(folder),
                 "--target-path", str(folder / "target"), "--log-path", str(folder / "logs"), "--log-level", "none",
                 "--log-level-file", "none", "--no-write-json", "--no-send-anonymous-usage-stats",
                 "--no-static-parser"])
            if not result.success:
                raise RuntimeError(f"the fork server's {parse} dbt parse of a throwaway project failed: "
                                   f"{result.exception}")
        if "PartialParsingSkipParsing" not in heard:  # the second parse must have read the first one's cache
            raise RuntimeError("the fork server's second dbt parse of a throwaway project did not reuse the first")
        result.result.build_flat_graph()  # the nodes written out, as every run does before its first node
        for macro in result.result.macros.values():  # dbt's and the adapter's, compiled once (dbt caches them by text)
            if macro.package_name != "warm_up":
                template_cache.get_node_template(macro)
    finally:
        reset_adapters()  # its locks are the server's own: no child uses them, none is left behind at exit
        shutil.rmtree(folder, ignore_errors=True)


def _child(request: dict, streams: list[int], set_up: int, imported: list[str], bytecode: str) -> None:
    """Become the command: standard streams (first, so that any failure below is in its stderr), session,
    directory, environment, then its module as `python -m` runs it (the CLI unless the request names another) or
    its script as `python <script>` runs it (in a fresh interpreter when its PYTHONPATH shadows an import or its
    environment differs from the server's in a setting the interpreter reads only when it starts)."""
    env = request["env"]
    devnull = os.open(os.devnull, os.O_RDONLY)
    for fd, source in ((0, devnull), (1, streams[0]), (2, streams[1])):
        os.dup2(source, fd)
        os.close(source)
    _standard_streams(unbuffered=bool(env.get("PYTHONUNBUFFERED")))
    if request["new_session"]:
        os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(env)
    module, script = request.get("module", _CLI), request.get("script")
    first = os.path.dirname(os.path.realpath(script)) if script else os.getcwd()  # as the interpreter sets it
    search_path = _search_path(first, env.get("PYTHONPATH"), imported)
    fresh = search_path is None or any(_at_start(name, env) != _at_start(name, _SERVER_ENV) for name in _AT_START)
    os.write(set_up, _FRESH if fresh else _FORKED)
    os.close(set_up)
    if fresh:
        os.execv(sys.executable, [sys.executable, *([script] if script else ["-m", module]), *request["argv"]])
    sys.path[:] = search_path
    tempfile.tempdir = None  # the server's cached folder: gettempdir() reads this environment's TMPDIR again
    time.tzset()  # time.tzname, time.timezone: from this environment's TZ
    sys.dont_write_bytecode = False
    if env.get("PYTHONDONTWRITEBYTECODE"):  # the program's own modules compiled once per server, not per child,
        sys.pycache_prefix = bytecode       # and never beside their source
    else:
        sys.pycache_prefix = env.get("PYTHONPYCACHEPREFIX") or None
    if script:
        sys.argv = [script, *request["argv"]]
        runpy.run_path(script, run_name="__main__")
    else:
        sys.argv = ["-m", *request["argv"]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)


def _standard_streams(unbuffered: bool) -> None:
    """sys.stdin, stdout and stderr on descriptors 0-2 as the interpreter makes them at start-up (buffering from
    this child's PYTHONUNBUFFERED; encoding and errors are the server's, whose start-up read the same locale and
    PYTHONIOENCODING, or the child would be a fresh interpreter)."""
    for fd, mode, name, like in ((0, "r", "stdin", _SERVER_STDIO[0]), (1, "w", "stdout", _SERVER_STDIO[1]),
                                 (2, "w", "stderr", _SERVER_STDIO[2])):
        buffer = open(fd, f"{mode}b", buffering=0 if unbuffered and mode == "w" else -1, closefd=False)
        raw = buffer if isinstance(buffer, io.FileIO) else buffer.raw
        raw.name = f"<{name}>"
        stream = io.TextIOWrapper(buffer, encoding=like.encoding, errors=like.errors, newline="\n",
                                  line_buffering=not unbuffered and (fd == 2 or raw.isatty()),
                                  write_through=unbuffered)
        stream.mode = mode
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _at_start(name: str, env) -> str | None:
    """The variable as the interpreter's start-up reads it: unset and empty are the same, and so are an unset
    PYTHONHASHSEED and `random`."""
    value = env.get(name) or None
    return None if name == "PYTHONHASHSEED" and value == "random" else value


def _search_path(first: str, pythonpath: str | None, imported: list[str]) -> list[str] | None:
    """`sys.path` of an interpreter started here with `pythonpath`: `first` (the working directory for `-m`, the
    script's folder for a script), its folders, then the interpreter's own. None when a folder that only one of the
    server and the child has holds a module or regular package the server imported (the child would not import
    the same one)."""
    theirs = [_SERVER_FIRST, *_SERVER_PYTHONPATH]
    mine = [first, *(entry for entry in (pythonpath or "").split(os.pathsep) if entry)]
    # the server's own first folder (tests/support/, its script's) does not count as one the child lacks: the
    # server imported nothing from there (it runs as `__main__`)
    changed = [entry for entry in mine if entry not in theirs] + [entry for entry in _SERVER_PYTHONPATH
                                                                   if entry not in mine]
    for name in imported if changed else ():
        spec = importlib.machinery.PathFinder.find_spec(name, changed)
        if spec is not None and spec.origin is not None:
            return None
    return [*mine, *_INTERPRETER_PATH]


# what the interpreter reads from the environment only when it starts (the str hash seed, -O, -W, stdio encoding,
# UTF-8 mode and the locale, dev mode and other -X options, the site folders): a child whose environment differs
# from the server's in one of them execs a fresh interpreter. PYTHONUNBUFFERED (its streams), TMPDIR (tempfile's
# cached folder), TZ (the time module's) and PYTHONDONTWRITEBYTECODE / PYTHONPYCACHEPREFIX are taken on in the
# forked child (`_child`); PYTHONPATH and the working directory by `_search_path`.
_AT_START = ("PYTHONHASHSEED", "PYTHONOPTIMIZE", "PYTHONWARNINGS", "PYTHONIOENCODING", "PYTHONUTF8", "LC_ALL",
             "LC_CTYPE", "LANG", "PYTHONCOERCECLOCALE", "PYTHONDEVMODE", "PYTHONMALLOC", "PYTHONMALLOCSTATS",
             "PYTHONFAULTHANDLER", "PYTHONTRACEMALLOC", "PYTHONPROFILEIMPORTTIME", "PYTHONVERBOSE", "PYTHONDEBUG",
             "PYTHONINSPECT", "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONHOME",
             "PYTHONPLATLIBDIR", "PYTHONWARNDEFAULTENCODING", "PYTHONNODEBUGRANGES", "PYTHONINTMAXSTRDIGITS",
             "PYTHONEXECUTABLE")
_SERVER_ENV = {name: os.environ[name] for name in _AT_START if name in os.environ}
# the server's own standard streams: what a child's are made like, and kept open (they own descriptors 0-2)
_SERVER_STDIO = (sys.__stdin__, sys.__stdout__, sys.__stderr__)

# the server's own start-up: its first folder (its working directory), its PYTHONPATH folders, and what the
# interpreter added after them
_SERVER_FIRST = sys.path[0]
_SERVER_PYTHONPATH = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
_INTERPRETER_PATH = sys.path[1 + len(_SERVER_PYTHONPATH):]


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
