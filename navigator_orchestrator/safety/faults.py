"""Test-only kill points: `PLANWISE_TEST_KILL=<point>:<n>` makes the process SIGKILL itself the n-th time it
reaches `point`, so a crash test can stop a real run at an exact moment (between the write and the rename of a
checkpoint, say) that an outside timer would hit only by chance. Unset, each point costs one dict lookup.

Points: `log` (any run-log line was just flushed), the name of a run-log event (`model_finished`: that event's
line was just flushed), `checkpoint` (a year's `.done` is written and fsynced, not yet renamed), `summary`
(summary.json's temp file is written, not yet renamed).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

KILL_ENV = "PLANWISE_TEST_KILL"
_reached: Counter[str] = Counter()


def kill_point(point: str) -> None:
    """SIGKILL this process if `PLANWISE_TEST_KILL` names this point and this is its n-th time."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    name, _, count = wanted.partition(":")
    if name != point:
        return
    _reached[point] += 1
    if _reached[point] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
