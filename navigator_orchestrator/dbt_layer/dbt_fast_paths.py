"""Speed-ups that replace parts of dbt's own per-invocation and per-node work, installed only on the dbt they were
verified against, each on its own, inside the orchestrator's process only.

A small year spends most of its time in dbt's Python, not in DuckDB, and parts of that are repeated work that gives
the same answer every time. Each speed-up below replaces a private dbt or dbt_common function, so it is installed
only when dbt-core, dbt-common and dbt-duckdb are exactly the versions in `VERIFIED` (those of constraints.txt,
where the suite proves them equivalent to dbt as shipped); on any other version the run uses dbt as shipped. Each
installs or stays off on its own: a symbol a dbt release removed turns that one off, never stops a run. The run
says once which are on (console when any is off, run log, summary.json: `status()`).

`PLANWISE_DBT_SPEEDUPS` (read once per process): `on` (default), `off` (dbt as shipped, for a user who suspects
them), or a comma-separated list of the names to keep on.

- `templates`: dbt turns each model's Jinja source into Python code again at every invocation and for every year
  (jinja2's `from_string` keeps nothing); the code depends only on the source and Jinja's settings, so it is kept
  per (environment class, source) and a template is still made from it, with the node's own context, each time.
- `events`: dbt builds every event (dozens per node) through protobuf's JSON parser (`ParseDict`), whether or not a
  logger writes it; the same messages are built with protobuf's constructors, and anything they refuse goes
  through dbt's own path.
- `contexts`: `dbt run` builds each model's Jinja context (about 530 macros and every builtin) to compile the model,
  then again to execute it; the execution reuses the compilation's context (same thread, same node) with the three
  values compiling changed read anew; a compilation that stored query results gets a new context as before.
- `log_filter`: dbt formats every event's line for every logger and only then lets the logger's level drop it;
  each logger first asks its level (the decision dbt's logger makes afterwards), so it formats only what it writes.
- `flags`: dbt_common names the module that declared a behaviour flag by `inspect.stack()`, which reads the source
  lines of every frame on the stack, for every flag at every invocation; the same frames are walked without them.
- `empty_table`: dbt builds a new empty agate table for every statement that returns no rows; agate tables are
  immutable, so one is shared.
"""

from __future__ import annotations

import logging
import os
import threading
from importlib import metadata
from typing import Any, Callable

from ..errors import InputError

VERIFIED = {"dbt-core": "1.11.16", "dbt-common": "1.39.0", "dbt-duckdb": "1.11.1"}  # == constraints.txt (tested)
SWITCH = "PLANWISE_DBT_SPEEDUPS"
_CODE_LIMIT = 2048  # distinct template sources kept: a project's models and rendered config strings, many times over
_codes: dict[tuple[type, str], Any] = {}
_state: dict[str, str] = {}  # name -> "on" or why it is off; empty until `install`
_lock = threading.Lock()


def requested() -> tuple[str, ...]:
    """The speed-ups `PLANWISE_DBT_SPEEDUPS` asks for; InputError for a value that names none of them."""
    value = os.environ.get(SWITCH, "on").strip().lower()
    if value in ("", "on"):
        return tuple(SPEEDUPS)
    if value == "off":
        return ()
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in SPEEDUPS]
    if unknown or not names:
        raise InputError(f"{SWITCH}={value!r}: unknown speed-up {', '.join(unknown) or '(none named)'}",
                         f"set it to on, off, or a comma-separated list of {', '.join(SPEEDUPS)}")
    return names


def version_mismatch() -> str | None:
    """Why the installed dbt is not the verified one (a package and both versions), or None when it is."""
    for package, verified in VERIFIED.items():
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed = "none"
        if installed != verified:
            return f"{package} {installed} installed, speed-ups verified with {verified}"
    return None


def install() -> dict[str, str]:
    """Install each requested speed-up once per process when dbt is the verified version; `status()` after."""
    with _lock:
        if _state:
            return dict(_state)
        wanted = requested()
        mismatch = version_mismatch()
        for name, patch in SPEEDUPS.items():
            if name not in wanted:
                _state[name] = f"off ({SWITCH}={os.environ.get(SWITCH)})"
            elif mismatch:
                _state[name] = f"off ({mismatch})"
            else:
                try:
                    patch()
                    _state[name] = "on"
                except Exception as error:  # noqa: BLE001 - a changed dbt: this one stays off, dbt as shipped
                    _state[name] = f"off ({type(error).__name__}: {' '.join(str(error).split())[:200]})"
        return dict(_state)


def status() -> dict[str, str]:
    """{speed-up: "on" or why it is off} once `install` ran, else {}."""
    return dict(_state)


def status_line(state: dict[str, str]) -> str:
    """One line: all on, or which are off and why (dbt as shipped there)."""
    off = {name: why for name, why in state.items() if why != "on"}
    if not off:
        return f"dbt speed-ups: all on ({', '.join(state)})"
    reasons = "; ".join(reason.removeprefix("off (").removesuffix(")") for reason in sorted(set(off.values())))
    if len(off) == len(state):
        return f"dbt speed-ups: all off, dbt as shipped ({reasons})"
    on = [name for name in state if name not in off]
    return f"dbt speed-ups: {', '.join(off)} off, dbt as shipped there ({reasons}); on: {', '.join(on)}"


def invocation_callbacks() -> list[Callable[[Any], None]]:
    """The dbtRunner callbacks the installed speed-ups need (the log filter is set from an event callback)."""
    return [_filter_before_formatting] if _state.get("log_filter") == "on" else []


def _cache_compiled_templates() -> None:
    import dbt.clients.jinja as dbt_jinja
    from dbt_common.clients.jinja import catch_jinja, get_environment

    def get_template(string: Any, ctx: dict, node: Any = None, capture_macros: bool = False,
                     native: bool = False) -> Any:
        """dbt_common's get_template (the same environment, errors and globals) with the compiled code reused."""
        with catch_jinja(node):
            env = get_environment(node, capture_macros, native=native)
            key = (type(env), str(string))
            code = _codes.get(key)
            if code is None:
                if len(_codes) >= _CODE_LIMIT:
                    _codes.clear()
                code = _codes[key] = env.compile(key[1])
            return env.template_class.from_code(env, code, env.make_globals(ctx), None)

    dbt_jinja.get_template  # noqa: B018 - the replaced symbol must exist
    dbt_jinja.get_template = get_template


def _build_events_directly() -> None:
    from dbt_common.events import base_types, event_manager

    parse_event = base_types.BaseEvent.__init__
    parse_message = base_types.msg_from_base_event
    event_manager.msg_from_base_event  # noqa: B018 - the replaced symbol must exist

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        """BaseEvent's constructor through the message class's own; positional arguments (dbt's `Formatting`)
        and whatever the constructor refuses (a timestamp as text, a wrong type) go through ParseDict."""
        if args:
            return parse_event(self, *args, **kwargs)
        for name in ("base_msg", "msg"):
            if name in kwargs:
                kwargs[name] = str(kwargs[name])
        try:
            message = getattr(self.PROTO_TYPES_MODULE, type(self).__name__)(**kwargs)
        except Exception:  # noqa: BLE001 - dbt's path reports (or raises, under pytest) what is wrong
            return parse_event(self, **kwargs)
        object.__setattr__(self, "pb_msg", message)

    def msg_from_base_event(event: Any, level: Any = None) -> Any:
        """base_types.msg_from_base_event with the same fields, set directly."""
        try:
            message = getattr(event.PROTO_TYPES_MODULE, f"{type(event).__name__}Msg")()
            info = message.info
            info.level = level.value if level else event.level_tag().value
            info.msg = event.message()
            info.invocation_id = base_types.get_invocation_id()
            info.extra.update(base_types.get_global_metadata_vars())
            info.ts.FromJsonString(base_types.get_json_string_utcnow())
            info.pid = base_types.get_pid()
            info.thread = base_types.get_thread_name()
            info.code = event.code()
            info.name = type(event).__name__
        except Exception:  # noqa: BLE001 - dbt's own path
            return parse_message(event, level)
        message.data.CopyFrom(event.pb_msg)
        return message

    base_types.BaseEvent.__init__ = __init__
    event_manager.msg_from_base_event = msg_from_base_event


def _reuse_compile_contexts() -> None:
    import dbt.compilation as compilation
    import dbt.task.run as run
    from dbt.context.providers import ModelContext, RuntimeProvider, generate_runtime_model_context

    compiled = threading.local()  # dbt compiles and then executes a node in one worker thread
    refreshed = ("compiled_code", "sql", "model")
    compilation.generate_runtime_model_context, run.generate_runtime_model_context  # noqa: B018 - must exist

    def for_compile(node: Any, config: Any, manifest: Any) -> dict:
        """generate_runtime_model_context, remembering the context object for the node's execution."""
        context = ModelContext(node, config, manifest, RuntimeProvider(), None)
        values = context.to_dict()
        compiled.last = (node, context, values)
        return values

    def for_execute(model: Any, config: Any, manifest: Any) -> dict:
        """The node's compile-time context with what compiling changed read anew; else a new one."""
        node, context, values = getattr(compiled, "last", None) or (None, None, None)
        compiled.last = None
        if node is not model or context.sql_results or len(context.macro_stack.call_stack):
            return generate_runtime_model_context(model, config, manifest)
        for key in refreshed:
            values[key] = values["builtins"][key] = getattr(context, context._context_attrs_[key])
        return values

    compilation.generate_runtime_model_context = for_compile
    run.generate_runtime_model_context = for_execute


def _check_log_filter() -> None:
    """The logger internals `_WrittenFirst` reads exist (it is installed per invocation, by `invocation_callbacks`)."""
    from dbt_common.events.event_manager_client import get_event_manager
    from dbt_common.events.logger import PRINT_EVENT_NAMES, _Logger

    get_event_manager, PRINT_EVENT_NAMES  # noqa: B018 - must exist
    if "_python_logger" not in _Logger.__init__.__code__.co_names:
        raise AttributeError("dbt_common's _Logger no longer sets _python_logger")


class _WrittenFirst:
    """A dbt logger's filter that first asks the logger's level whether the event's line would be written at all
    (its Python logger's level; print events go out as errors): the same decision dbt's logger makes afterwards."""

    def __init__(self, logger: Any) -> None:
        from dbt_common.events.logger import PRINT_EVENT_NAMES

        self.logger, self.dbt_filter, self.as_errors = logger, logger.filter, PRINT_EVENT_NAMES

    def __call__(self, msg: Any) -> bool:
        python_logger = self.logger._python_logger
        level = logging.ERROR if msg.info.name in self.as_errors else _PYTHON_LEVELS.get(msg.info.level, logging.ERROR)
        return python_logger is not None and python_logger.isEnabledFor(level) and self.dbt_filter(msg)


_PYTHON_LEVELS = {"debug": logging.DEBUG, "test": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
                  "error": logging.ERROR}


def _filter_before_formatting(_event: Any) -> None:
    """A dbtRunner callback: dbt sets its loggers up anew at every invocation, and callbacks hear every event
    after the loggers did, so from the invocation's second event on its loggers format only what they write."""
    from dbt_common.events.event_manager_client import get_event_manager

    for logger in get_event_manager().loggers:
        if not isinstance(logger.filter, _WrittenFirst) and hasattr(logger, "_python_logger"):
            logger.filter = _WrittenFirst(logger)


def _name_flag_sources_without_source_lines() -> None:
    import inspect
    import sys

    from dbt_common import behavior_flags

    behavior_flags.BehaviorFlagRendered._default_source  # noqa: B018 - must exist

    def _default_source() -> str:
        """dbt_common's `_default_source`: the first module on the stack other than behavior_flags (from its
        caller up, as `inspect.stack()` lists the frames), without the source lines `inspect.stack()` reads."""
        frame = sys._getframe(1)
        while frame is not None:
            module = inspect.getmodule(frame)
            if module and module.__name__ != behavior_flags.__name__:
                return module.__name__
            frame = frame.f_back
        return "Unknown"

    behavior_flags.BehaviorFlagRendered._default_source = staticmethod(_default_source)


def _share_the_empty_table() -> None:
    from dbt_common.clients import agate_helper

    empty = agate_helper.empty_table()
    agate_helper.empty_table = lambda: empty  # looked up at each call by dbt's callers (imported inside functions)


SPEEDUPS: dict[str, Callable[[], None]] = {
    "templates": _cache_compiled_templates,
    "events": _build_events_directly,
    "contexts": _reuse_compile_contexts,
    "log_filter": _check_log_filter,
    "flags": _name_flag_sources_without_source_lines,
    "empty_table": _share_the_empty_table,
}
