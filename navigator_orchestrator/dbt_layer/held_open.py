"""A run keeps its database file open from its census write to its run_metadata row: one DuckDB instance for all.

Every `duckdb.connect` of a file that no connection in the process holds creates a database instance, about 30 ms
here (DuckDB registers its whole catalog of built-in functions, even for `:memory:`), and closing the last
connection checkpoints the file. A year paid that about six times: dbt-duckdb's connection per invocation and the
orchestrator's for the gates, digests and metrics, plus the run's census and run_metadata writes. While the run
holds the file (`held_open`), DuckDB's in-process instance cache gives dbt-duckdb's `duckdb.connect` of the same
path and default configuration the held instance in well under a millisecond, and `connect` gives the
orchestrator a connection to it. Committed work is as durable as before: DuckDB writes every commit to its
write-ahead log, which the next open replays after a crash.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

_HELD: dict[Path, duckdb.DuckDBPyConnection] = {}


@contextmanager
def held_open(db_path: Path, memory_limit: str | None = None) -> Iterator[str]:
    """The file stays open (read-write, DuckDB's default configuration, as dbt-duckdb opens it) until the block
    ends; no other process can open it meanwhile, as during each dbt invocation before. `memory_limit` (a size
    inputs/memory.py accepts) caps the instance, dbt's work included; yields the limit as DuckDB states it."""
    key = Path(db_path).resolve()
    con = duckdb.connect(str(key))
    _HELD[key] = con
    try:
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        yield con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        del _HELD[key]
        con.close()


def connect(db_path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the database: to the held instance when the file is held open (then read-write whatever
    `read_only` says: one instance has one mode), else a new one."""
    held = _HELD.get(Path(db_path).resolve())
    if held is not None:
        return held.cursor()
    return duckdb.connect(str(db_path), read_only=read_only)
