"""The run log: `logs/run_<run_id>.jsonl` beside the database, one JSON object per event, plus the console lines.

Every line is masked and flushed as it is written, so a run killed at any moment leaves a file whose complete
lines all parse (at most the last one is cut short). `LOG_LEVEL` (environment or .env) filters the file and the
console alike; the console keeps the short human-readable lines, the file carries the event's fields.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

from ..errors import InputError
from ..safety.faults import kill_point
from ..safety.masking import mask, mask_data

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
DEFAULT_LEVEL = "INFO"


def log_level(environ: dict[str, str] | None = None) -> str:
    """The level named by LOG_LEVEL (case-insensitive), INFO when unset; anything else is an input error."""
    raw = (os.environ if environ is None else environ).get("LOG_LEVEL", "").strip()
    level = raw.upper() or DEFAULT_LEVEL
    if level not in LEVELS:
        raise InputError(f"LOG_LEVEL={raw!r} is not a log level",
                         f"set LOG_LEVEL to one of {', '.join(LEVELS)} (environment or .env), or unset it for INFO")
    return level


def log_path(db_path: Path, run_id: str) -> Path:
    """Everything of a database lives beside it: its runs' logs too."""
    return db_path.parent / "logs" / f"run_{run_id}.jsonl"


class RunLog:
    """JSONL file + console for one run. `event()` writes a line when its level passes the threshold."""

    def __init__(self, path: Path, run_id: str, level: str = DEFAULT_LEVEL, echo: Callable[[str], None] = print):
        self.path = path
        self.run_id = run_id
        self.threshold = LEVELS[level]
        self._echo = echo
        self._file: TextIO | None = None

    def open(self) -> RunLog:
        """Create the file; a folder that cannot be written is reported, and the run goes on with the console."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as error:
            self._file = None
            self._echo(mask(f"warning: run log not written ({self.path}: {error.strerror})"))
        return self

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enabled(self, level: str) -> bool:
        return LEVELS[level] >= self.threshold

    def event(self, event: str, message: str, level: str = "INFO", console: bool = True, **fields: Any) -> None:
        """One event: a JSON line in the file, and `message` on the console when `console`."""
        if not self.enabled(level):
            return
        if console:
            self._echo(mask(message))
        if self._file is None:
            return
        record = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": level,
                  "run_id": self.run_id, "event": event, "message": message, **fields}
        line = json.dumps(mask_data(record), default=str, sort_keys=False)
        try:
            self._file.write(line + "\n")
            self._file.flush()
        except OSError:  # a full disk must not turn into a traceback; the console still has the line
            self.close()
            return
        kill_point("log")
        kill_point(event)

    def info(self, event: str, message: str, **fields: Any) -> None:
        self.event(event, message, "INFO", **fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self.event(event, message, "WARNING", **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.event("error", message, "ERROR", console=False, **fields)  # the CLI prints the error line itself
