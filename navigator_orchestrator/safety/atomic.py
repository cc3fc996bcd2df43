"""Files that are either the old version or the new one, never half of either: write a temp file beside the
target, fsync it, rename it over the target, fsync the folder. A crash (SIGKILL, power loss) at any point leaves
the previous file intact and at most a stray `<name>.tmp`, which the next write replaces.
"""

from __future__ import annotations

import os
from pathlib import Path

from .faults import kill_point


def write_atomically(path: Path, text: str, point: str | None = None) -> None:
    """Replace `path` with `text` atomically; `point` names the test kill point between fsync and rename."""
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if point:
            kill_point(point)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (the directory entry itself is flushed)."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
