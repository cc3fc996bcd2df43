"""One writer per database: an OS lock file beside it (`<db path>.lock`) that names its holder.

`fcntl.flock` is released by the kernel when the holding process dies, so a lock left by a killed run is simply
taken over; the pid and run_id written inside serve only to name the holder in the error a second run gets.
The file itself stays (emptied on release): deleting it would let two processes lock two different inodes.
DuckDB has its own file lock (another program has the database open); its error is reported the same way.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from ..errors import LockError, PlanwiseError, SimulationError

_DUCKDB_LOCK = "Could not set lock on file"  # DuckDB 2.x changed its error classes: match the message text
_DUCKDB_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def run_lock(db_path: Path, run_id: str, command: str, echo: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the database's lock for the block, or raise LockError at once naming the holder's pid and run id."""
    path = lock_path(db_path)
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as error:
        raise PlanwiseError(f"cannot create the run lock {path}: {error.strerror}",
                            f"make {path.parent} writable (chmod u+w) or point --db at another folder") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(handle, wait=0.5)
        handle.close()
        raise _held_error(db_path, holder) from None
    try:
        stale = _read_holder(handle)
        if stale.get("pid") not in (None, os.getpid()):
            state = "no longer running" if not _alive(stale["pid"]) else "no longer holding it"
            echo(f"lock: took over {path.name} left by run {stale.get('run_id', '?')} (pid {stale['pid']}, {state})")
        _write_holder(handle, {"pid": os.getpid(), "run_id": run_id, "command": command,
                               "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        yield
    finally:
        with suppress(OSError):
            handle.truncate(0)  # still locked here: nobody reads a half-cleared file
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def duckdb_lock_error(error: BaseException, db_path: Path) -> LockError | None:
    """DuckDB's "Could not set lock on file" (anywhere: our connections, dbt's) as a LockError; else None."""
    text = str(error)
    if _DUCKDB_LOCK not in text:
        return None
    found = _DUCKDB_HOLDER.search(text)
    if found is None:
        return LockError(f"database {db_path} is open in another program, DuckDB could not lock it",
                         "close the other program that has the database open, then run the same command again")
    pid = found.group("pid")
    return LockError(f"database {db_path} is open in {Path(found.group('program')).name} (pid {pid}), "
                     "DuckDB could not lock it",
                     f"close that program (or `kill {pid}`), then run the same command again")


def database_failure(error: BaseException, db_path: Path) -> PlanwiseError:
    """A DuckDB error met while using the database, as the user's one line: a LockError when another program holds
    the file, else a damaged (or unreadable) database, fixed by restoring a backup."""
    locked = duckdb_lock_error(error, db_path)
    if locked is not None:
        return locked
    if isinstance(error, PlanwiseError):
        return error
    return SimulationError(f"database error: {' '.join(str(error).split())[:500]}",
                           f"if the database is damaged, restore a backup: `planwise backup restore --db {db_path}`")


def _held_error(db_path: Path, holder: dict) -> LockError:
    pid = holder.get("pid")
    if pid is None:  # the holder has not written its name yet (or is not planwise)
        return LockError(f"database {db_path} is locked by another process ({lock_path(db_path).name})",
                         "wait for the other run to finish, then run the same command again")
    alive = "" if _alive(pid) else ", no longer running: a process it started still holds the lock"
    return LockError(
        f"database {db_path} is in use by {holder.get('command', 'planwise')} run {holder.get('run_id', '?')} "
        f"(pid {pid}, since {holder.get('since', '?')}{alive})",
        f"wait for it to finish or stop it with `kill {pid}`, then run the same command again",
    )


def _read_holder(handle, wait: float = 0.0) -> dict:
    """The holder's record; waits up to `wait` seconds for a holder that has locked but not yet written."""
    deadline = time.monotonic() + wait
    while True:
        handle.seek(0)
        text = handle.read()
        try:
            holder = json.loads(text)
        except ValueError:
            holder = None
        if isinstance(holder, dict) and isinstance(holder.get("pid"), int):
            return holder
        if time.monotonic() >= deadline:
            return {}
        time.sleep(0.05)


def _write_holder(handle, holder: dict) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder))
    handle.flush()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """A plain exclusive OS lock for the block (released if the process dies): for caches several processes share."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
