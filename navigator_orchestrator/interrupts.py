"""SIGTERM handled like Ctrl-C: the run stops at the next statement, writes its summary, releases its lock.

`Terminated` subclasses KeyboardInterrupt so that dbt, which already stops cleanly on Ctrl-C, does the same on
SIGTERM; the exit code tells them apart (130 for Ctrl-C, 143 for SIGTERM, 128 + the signal number).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def exit_code(interrupt: KeyboardInterrupt) -> int:
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM raises `Terminated` (only the main thread can install a handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
