"""Six parts of dbt's per-invocation and per-node work done once, or more cheaply, instead of every time, inside the
orchestrator's process only.

A small year spends most of its time in dbt's Python, not in DuckDB. Parts of it are repeated work that gives the
same answer every time, or work far costlier than its answer needs:
- Model templates. dbt turns each model's Jinja source into Python code again at every invocation and for every
  year (jinja2's `from_string` keeps nothing); the code depends only on the source text and on Jinja's settings,
  which are the same for every model (dbt's variables and macros come in at render time, not here). The code is
  kept per (environment class, source); a template is still made from it, with the node's own context, each time.
- Events. dbt builds every event (each SQL statement, connection use and cache action: dozens per node) through
  protobuf's JSON parser (`ParseDict`), whether or not a logger writes it. The same messages are built with
  protobuf's constructors and setters; anything they refuse goes through dbt's own path, unchanged.
- Plugins. At every invocation dbt looks for `dbt_*` plugin modules by listing every folder of `sys.path`
  (`pkgutil.iter_modules`: about 45 ms, a thousand entries of site-packages). What it finds is kept per `sys.path`:
  a module installed while the process runs is found by the next process, as with any installed entry point.
- Model contexts. `dbt run` builds each model's Jinja context (its macro namespace of every macro, about 530, and
  every builtin) to compile the model, then again to execute its materialization: about 4 ms each time. The
  execution reuses the compilation's context, in the same thread for the same node, with the three values that
  compiling changed (`compiled_code`, `sql`, `model`) read anew; a compilation that stored query results, or any
  other node, gets a new context as before.
- Behavior flags. Each adapter dbt makes (one per invocation) names the module that declared each of its behavior
  flags by calling `inspect.stack()`, which reads the source lines of every frame on the stack: about 4 ms per flag
  in a warm process, tens of ms in a fresh one. The same module is found by walking the frames without reading any
  source.
- Empty results. Every statement that fetches nothing (most of a model's) gets a new empty agate table as its
  result, and agate builds its type tester (the parsers of dates and times) for each: about 1.4 ms, a few hundred
  times a run. Agate tables are immutable, so one empty table serves them all.
The first four together were about 20 % of a small run's CPU. Plain `dbt` never imports this module: it behaves as shipped.
"""

from __future__ import annotations

from typing import Any

_CODE_LIMIT = 2048  # distinct template sources kept: a project's models and rendered config strings, many times over
_codes: dict[tuple[type, str], Any] = {}
_plugin_modules: dict[tuple[str, ...], dict[str, Any]] = {}
_installed = False


def install() -> None:
    """Replace dbt's template and event construction with the cached and direct ones (once per process)."""
    global _installed
    if _installed:
        return
    _cache_compiled_templates()
    _build_events_directly()
    _discover_plugins_once()
    _reuse_compile_contexts()
    _name_flag_sources_without_source_lines()
    _share_the_empty_table()
    _installed = True


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

    dbt_jinja.get_template = get_template


def _build_events_directly() -> None:
    from dbt_common.events import base_types, event_manager

    parse_event = base_types.BaseEvent.__init__
    parse_message = base_types.msg_from_base_event

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


def _discover_plugins_once() -> None:
    import sys

    from dbt.plugins.manager import PluginManager

    discover = PluginManager.get_prefixed_modules.__func__

    def get_prefixed_modules(cls: type) -> dict[str, Any]:
        """dbt's `dbt_*` modules found on `sys.path`, looked for once per `sys.path`."""
        key = tuple(sys.path)
        if key not in _plugin_modules:
            _plugin_modules[key] = discover(cls)
        return _plugin_modules[key]

    PluginManager.get_prefixed_modules = classmethod(get_prefixed_modules)


def _reuse_compile_contexts() -> None:
    import threading

    import dbt.compilation as compilation
    import dbt.task.run as run
    from dbt.context.providers import ModelContext, RuntimeProvider, generate_runtime_model_context

    compiled = threading.local()  # dbt compiles and then executes a node in one worker thread
    refreshed = ("compiled_code", "sql", "model")

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


def _name_flag_sources_without_source_lines() -> None:
    import inspect
    import sys

    from dbt_common import behavior_flags

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
