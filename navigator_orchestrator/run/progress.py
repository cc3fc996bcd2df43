"""The status line of long work on a terminal: units done of total (years of a run, runs of an ensemble), what
the current one is at, elapsed time and an estimate of the time left, rewritten in place.

Shown only when stdout and stderr are both terminals and TERM is not `dumb`, and only once the work has lasted
PLANWISE_PROGRESS_AFTER seconds (default 2): any redirected output gets exactly the plain lines, nothing else.
The line is plain text (no colour, no escape sequence: a carriage return and spaces), masked like every line,
cut to the terminal's width, cleared before each plain line, at the end and on Ctrl-C or SIGTERM before the
interrupted work prints anything (`cleared_on_signal`), so the lines and the final table stay intact, and it never
reaches a log or a summary. A small background thread redraws it a few times a second; a finished unit redraws it
at once.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator, Mapping, TextIO

from ..errors import InputError
from ..safety.masking import mask

AFTER_ENV = "PLANWISE_PROGRESS_AFTER"
DEFAULT_AFTER = 2.0  # seconds of work before the line appears: short commands print exactly what they always did
INTERVAL = 0.25  # seconds between redraws
FALLBACK_WIDTH = 80  # a terminal that does not say its width (a new pseudo-terminal says 0)


def remaining(done: int, total: int, finished_elapsed: float, elapsed: float) -> float | None:
    """Seconds left: the time the finished units took on average (`finished_elapsed` / `done`, so parallel
    workers count) for all `total` units, less the `elapsed` time; None before the first unit has finished."""
    if done <= 0:
        return None
    if done >= total:
        return 0.0
    return max(finished_elapsed / done * total - elapsed, 0.0)


def clock_time(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour (to the nearest second)."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def delay(environ: Mapping[str, str]) -> float:
    """PLANWISE_PROGRESS_AFTER in seconds (unset: DEFAULT_AFTER; `inf`: never); anything else is an input error."""
    raw = environ.get(AFTER_ENV, "").strip()
    if not raw:
        return DEFAULT_AFTER
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise InputError(f"{AFTER_ENV}={raw!r} is not a number of seconds",
                         f"set {AFTER_ENV} to seconds >= 0 (0: at once, inf: never), or unset it for "
                         f"{DEFAULT_AFTER:g}")
    return seconds


def on_terminal(stdout: TextIO, stderr: TextIO, environ: Mapping[str, str]) -> bool:
    """Both standard streams are terminals, and TERM does not say the terminal cannot return the cursor."""
    if environ.get("TERM") == "dumb":
        return False
    try:
        return stdout.isatty() and stderr.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Status:
    """What long work says about itself as it goes. This one shows nothing but the plain lines: the command's
    output is not a terminal, or the work runs in a worker or through the Python API."""

    def begin(self, total: int) -> None:
        """`total` units (years, runs) start now."""

    def doing(self, what: str) -> None:
        """What the current unit is at (`building 2026 (dbt: 12 models)`)."""

    def done(self, count: int, failed: int = 0) -> None:
        """`count` units have finished, `failed` of them failed."""

    def echo(self, line: str) -> None:
        """A plain line of the command's output."""
        print(mask(line))

    def cleared_on_signal(self) -> ContextManager[None]:
        """Entered inside the work's own signal handling (`interrupts.sigterm_interrupts`): see StatusLine."""
        return nullcontext()


PLAIN = Status()


class StatusLine(Status):
    """The status line on a terminal stream; `draw` shows it once `after` seconds have passed since it was made."""

    def __init__(self, stream: TextIO, unit: str, after: float = DEFAULT_AFTER,
                 clock: Callable[[], float] = time.monotonic, interval: float = INTERVAL):
        self.unit, self.after = unit, after
        self._stream, self._clock, self._interval = stream, clock, interval
        self.started = clock()
        self.total: int | None = None
        self.count = self.failed = 0
        self.what = "starting"
        self._began: float | None = None  # when the units started
        self._finished_at: float | None = None  # when the last one finished
        self._shown = ""  # the text on the screen now
        # one writer at a time: the thread, the work's events, the plain lines, a signal's clearing (which may
        # interrupt the main thread inside a write of its own: reentrant)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, total: int) -> None:
        self.total, self.count, self.failed, self.what, self._began = total, 0, 0, "", self._clock()

    def doing(self, what: str) -> None:
        self.what = what

    def done(self, count: int, failed: int = 0) -> None:
        if count != self.count:
            self._finished_at = self._clock()
        self.count, self.failed, self.what = count, failed, ""
        self.draw()

    def text(self, now: float) -> str:
        """The line at `now`, e.g. `1/2 years done, building 2026 (dbt: 12 models), elapsed 0:14, remaining about
        0:12`."""
        parts = []
        if self.total is not None:
            parts.append(f"{self.count}/{self.total} {self.unit} done")
            if self.unit == "runs":
                parts[-1] += f" ({self.count - self.failed} ok, {self.failed} failed)"
        if self.what:
            parts.append(self.what)
        parts.append(f"elapsed {clock_time(now - self.started)}")
        left = None
        if self.total is not None and self._began is not None and self._finished_at is not None:
            left = remaining(self.count, self.total, self._finished_at - self._began, now - self._began)
        parts.append("remaining: estimating" if left is None else f"remaining about {clock_time(left)}")
        return ", ".join(parts)

    def draw(self) -> None:
        """Rewrite the line in place (when it changed), once the work has lasted `after` seconds."""
        now = self._clock()
        if now - self.started < self.after or self._stop.is_set():
            return
        with self._lock:
            text = mask(self.text(now))[: self._width() - 1]
            if text != self._shown:
                self._write("\r" + text.ljust(len(self._shown)))
                self._shown = text

    def echo(self, line: str) -> None:
        with self._lock:
            self._clear()
            self._write(mask(line) + "\n")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._redraw, name="planwise-status-line", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop redrawing and clear the line (whatever ended the work: the terminal is left clean)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        self._stop_and_clear()

    @contextmanager
    def cleared_on_signal(self) -> Iterator[None]:
        """Within the block, Ctrl-C and SIGTERM first stop and clear the line, in the main thread before the
        handler in place raises into the work (so before dbt prints its cancel lines, or an ensemble stops its
        workers), then go to that handler. Only the main thread can set handlers; elsewhere this does nothing."""
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        handlers = {signum: handler for signum, handler in handlers.items() if callable(handler)}
        if threading.current_thread() is not threading.main_thread():
            handlers = {}

        def clear_first(signum: int, frame: object) -> None:
            self._stop_and_clear()
            handlers[signum](signum, frame)

        for signum in handlers:
            signal.signal(signum, clear_first)
        try:
            yield
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)

    def _stop_and_clear(self) -> None:
        self._stop.set()
        if self._lock.acquire(timeout=1):  # held by the thread for one write at most
            try:
                self._clear()
            finally:
                self._lock.release()

    def _redraw(self) -> None:
        while not self._stop.wait(self._interval):
            self.draw()

    def _clear(self) -> None:
        if self._shown:
            self._write("\r" + " " * len(self._shown) + "\r")
            self._shown = ""

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self._stream.fileno()).columns or FALLBACK_WIDTH
        except (AttributeError, OSError, ValueError):
            return FALLBACK_WIDTH

    def _write(self, data: str) -> None:
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError, RuntimeError):  # the terminal went away, or a signal's clearing came inside
            pass  # a write of the main thread's own (a reentrant write): the work goes on without the line


@contextmanager
def status_line(unit: str, environ: Mapping[str, str] | None = None) -> Iterator[Status]:
    """The command's Status for `unit` ("years" or "runs"): a StatusLine on stdout when both standard streams are
    terminals, else PLAIN. Cleared and stopped on the way out, whatever ends the block."""
    environ = os.environ if environ is None else environ
    after = delay(environ)
    if not on_terminal(sys.stdout, sys.stderr, environ):
        yield PLAIN
        return
    line = StatusLine(sys.stdout, unit, after)
    line.start()
    try:
        yield line
    finally:
        line.close()
