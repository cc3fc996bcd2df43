"""SIGTERM handled like Ctrl-C: the run stops at the next statement, writes its summary, releases its lock.

`Terminated` subclasses KeyboardInterrupt so that dbt, which already stops cleanly on Ctrl-C, does the same on
SIGTERM; the exit code tells them apart (130 for Ctrl-C, 143 for SIGTERM, 128 + the signal number).

A signal that arrives while DuckDB runs a query of ours (a backup's digests, a quality gate) interrupts the query,
but DuckDB drops the handler's exception and raises `RuntimeError: Query interrupted` instead; the handlers
record each signal so that `lost_interrupt` can tell that error apart and the run still stops as interrupted.
An error raised while an interrupt was being handled (dbt-duckdb cancelling a connection another thread had just
closed: `Connection already closed!`) is the interrupt too: it carries the interrupt as its context.
A handler that runs inside a weakref callback or a `__del__` (Python runs a signal's handler wherever the main
thread is) raises where Python can only print an exception and drop it; the run would go on as if no signal
came, so such an interrupt is sent again (`_send_again`), to land wherever the main thread runs next.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def exit_code(interrupt: KeyboardInterrupt) -> int:
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


_received: list[int] = []  # the signals handled inside `sigterm_interrupts`, in order


def _interrupt(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def lost_interrupt(error: BaseException | None) -> KeyboardInterrupt | None:
    """The interrupt behind `error`, or None for any other error: the interrupt it was raised while handling, or
    the one DuckDB turned into `RuntimeError: Query interrupted`, anywhere in its chain (dbt wraps errors)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyboardInterrupt):
            return error
        if _received and type(error) is RuntimeError and "interrupted" in str(error).lower():
            return Terminated() if _received[-1] == signal.SIGTERM else KeyboardInterrupt()
        error = error.__cause__ or error.__context__
    return None


def _send_again(unraisable: Any, previous: Callable[[Any], None]) -> None:
    """`sys.unraisablehook` inside the block: an interrupt Python dropped is sent again from another thread a
    moment later (from this one its handler would run inside this hook, and be dropped again); anything else
    goes to the hook there was before."""
    if _received and issubclass(unraisable.exc_type, KeyboardInterrupt):
        signum = signal.SIGTERM if issubclass(unraisable.exc_type, Terminated) else signal.SIGINT
        again = threading.Timer(0.01, os.kill, (os.getpid(), signum))
        again.daemon = True  # never keeps a finished process alive
        again.start()
        return
    previous(unraisable)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM raises `Terminated` and Ctrl-C KeyboardInterrupt, both recorded, and neither is
    lost in a weakref callback or a `__del__` (only the main thread can install a handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGTERM, signal.SIGINT)}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_send_again, previous=previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)
