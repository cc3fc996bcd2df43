"""A fixed workload timed in the same sitting as a benchmark, so its figures hold on another machine as ratios.

A machine's speed varies by up to 2x from one sitting to the next; a figure alone says little, a figure divided by
this reference says how the code changed. The workload mixes what a run spends its time on: DuckDB hashing and
aggregating on one thread (`md5_number` over 2,000,000 values, as the draws do) and pure Python (the interpreter
work dbt's Jinja and event code does). Median of five; `python benchmarks/reference.py` prints it alone.
"""

from __future__ import annotations

import statistics
import time

import duckdb


def _duckdb_part() -> None:
    with duckdb.connect() as con:
        con.execute("set threads = 1")
        con.execute("select sum(md5_number(i::VARCHAR) & 1023) from range(2000000) t(i)").fetchone()


def _python_part() -> None:
    total = 0
    for i in range(3_000_000):
        total += (i * 7) % 13
    "".join(str(i) for i in range(300_000))


def reference_seconds(repeat: int = 5) -> float:
    """Median wall seconds of the workload."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        _duckdb_part()
        _python_part()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def describe(seconds: float, reference: float) -> str:
    """`12.3 s (4.10x the reference workload)`: the ratio is what compares across machines."""
    return f"{seconds:.1f} s ({seconds / reference:.2f}x the reference workload of {reference:.2f} s)"


if __name__ == "__main__":
    print(f"reference workload: {reference_seconds():.3f} s (median of 5)")
