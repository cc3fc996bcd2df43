"""Percentile bands over an ensemble's seeds, and paired differences against a baseline scenario, from runs.parquet.

Percentiles are DuckDB's `quantile_cont`: linear interpolation between the two nearest order statistics at
position (n - 1) x q of the sorted values (numpy's default "linear", R's type 7); values as DOUBLE.

Paired differences: for each seed and year, scenario minus baseline of the same seed. Where a design does not
change who is drawn (the draws depend on seed, person and year, not on the plan), the same seed has the same
people in both, so the paired difference carries only the design's effect and its band is narrow. The unpaired
band is that of the differences between *different* seeds (every scenario seed i against every baseline seed
j != i): what comparing two independently drawn ensembles, or reading one band against the other, gives.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ..dbt_layer.inserts import insert_rows

KEYS = ("scenario", "seed", "year")
PERCENTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
BAND_COLUMNS = ("scenario", "metric", "year", *PERCENTILES, "mean", "min", "max", "n")
PAIRED_COLUMNS = ("scenario", "baseline", "metric", "year", *PERCENTILES, "mean", "min", "max", "n", "paired_width",
                  "unpaired_p5", "unpaired_p50", "unpaired_p95", "unpaired_width")


def _long(con: duckdb.DuckDBPyConnection, runs: Path) -> None:
    """Table `long` (scenario, seed, year, metric, value DOUBLE) of every metric column of runs.parquet."""
    path = str(runs).replace("'", "''")
    con.execute(f"create or replace view runs as select * from read_parquet('{path}')")
    metrics = [name for (name,) in con.execute("select column_name from (describe runs)").fetchall()
               if name not in KEYS]
    casts = ", ".join(f'"{m}"::DOUBLE as "{m}"' for m in metrics)
    on = ", ".join(f'"{m}"' for m in metrics)
    con.execute(f"create or replace table long as unpivot (select scenario, seed, year, {casts} from runs) "
                f"on {on} into name metric value value")


def _stats(column: str) -> str:
    """The band's aggregates, rounded to 6 decimals (below a cent and a participation point: only the float
    noise of the DOUBLE arithmetic goes)."""
    quantiles = ", ".join(f"round(quantile_cont({column}, {q}), 6) as {name}" for name, q in PERCENTILES.items())
    return (f"{quantiles}, round(avg({column}), 6) as mean, round(min({column}), 6) as min, "
            f"round(max({column}), 6) as max, count(*) as n")


def bands(runs: Path) -> list[dict]:
    """Per scenario, metric and year: p5, p25, p50, p75, p95, mean, min, max, n over the seeds."""
    with duckdb.connect() as con:
        _long(con, runs)
        cursor = con.execute(f"select scenario, metric, year, {_stats('value')} from long group by all "
                             "order by scenario, metric, year")
        return _rows(cursor)


def paired(runs: Path, baseline: str) -> list[dict]:
    """Per other scenario, metric and year: the band of (scenario - baseline) seed by seed, its p5-p95 width,
    and the unpaired band (different seeds) with its width. Only seeds both scenarios have are used."""
    with duckdb.connect() as con:
        _long(con, runs)
        con.execute("""
            create table both_seeds as
            select s.scenario, s.metric, s.year, s.seed, s.value, b.value as base
            from long s join long b on b.scenario = $baseline and s.metric = b.metric and s.year = b.year
                 and s.seed = b.seed
            where s.scenario <> $baseline""", {"baseline": baseline})
        cursor = con.execute(f"""
            with pair as (
                select scenario, metric, year, {_stats('value - base')} from both_seeds group by all),
            cross_seed as (
                select s.scenario, s.metric, s.year, round(quantile_cont(s.value - b.base, 0.05), 6) as unpaired_p5,
                       round(quantile_cont(s.value - b.base, 0.5), 6) as unpaired_p50,
                       round(quantile_cont(s.value - b.base, 0.95), 6) as unpaired_p95
                from both_seeds s join both_seeds b on s.scenario = b.scenario and s.metric = b.metric
                     and s.year = b.year and s.seed <> b.seed
                group by all)
            select pair.scenario, $baseline as baseline, pair.metric, pair.year, p5, p25, p50, p75, p95, mean, min, max,
                   n, round(p95 - p5, 6) as paired_width, unpaired_p5, unpaired_p50, unpaired_p95,
                   round(unpaired_p95 - unpaired_p5, 6) as unpaired_width
            from pair left join cross_seed using (scenario, metric, year)
            order by scenario, metric, year""", {"baseline": baseline})
        return _rows(cursor)


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def write_table(rows: list[dict], columns: tuple[str, ...], stem: Path) -> list[Path]:
    """`<stem>.parquet` and `<stem>.csv` of `rows` (each via a temp file and a rename)."""
    written = []
    with duckdb.connect() as con:
        types = {"scenario": "varchar", "baseline": "varchar", "metric": "varchar", "year": "integer", "n": "bigint"}
        con.execute("create table t (" + ", ".join(f'"{c}" {types.get(c, "double")}' for c in columns) + ")")
        insert_rows(con, "t", [[row[c] for c in columns] for row in rows])
        for suffix, options in ((".parquet", "format parquet"), (".csv", "format csv, header true")):
            target = stem.with_suffix(suffix)
            tmp = target.with_name(target.name + ".tmp")
            con.execute(f"copy t to '{str(tmp).replace(chr(39), chr(39) * 2)}' ({options})")
            os.replace(tmp, target)
            written.append(target)
    return written
