"""The one reader of what a run or an ensemble left behind, for the report and the workbook alike, so both show
the same numbers read the same way.

A run: its `summary.json` (per-year metrics, quality, nondiscrimination, errors with their fixes) and
`config.json` (every key's value and default) from `artifacts/runs/<run_id>/` beside the database, and from the
database itself, read-only, the event counts and deferral rates of the run's years, while its tables still hold
that run's results (the newest run in `run_metadata`). An ensemble: its `manifest.json`, `runs.parquet`,
`bands.parquet` and `paired.parquet`. Nothing is recomputed: every figure is a value of those files or a count
of those tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from ..errors import InputError
from ..safety.locking import database_failure

RUNS_FOLDER = ("artifacts", "runs")
NOT_ENROLLED = -1
TOP_BAND = 15  # deferral rates of 15 % of pay and more share one band


@dataclass(frozen=True)
class RunRecord:
    """A run as the deliverables show it."""

    db_path: Path
    summary: dict
    config: dict | None  # config.json (source, config_digest, values, defaults); None when the run has none
    tables_run_id: str | None  # the run whose results the database's tables hold now
    events: list[dict] = field(default_factory=list)  # year, event_type, event_category, events
    deferral_rates: list[dict] = field(default_factory=list)  # year, band (NOT_ENROLLED or whole percent), employees

    @property
    def run_id(self) -> str:
        return self.summary["run_id"]

    @property
    def years(self) -> list[dict]:
        """The years the run completed (built or proven by --resume), each with its metrics."""
        return self.summary.get("years", [])

    @property
    def metrics(self) -> list[str]:
        """Every metric name of the run's years, in the summary's order."""
        return list(dict.fromkeys(name for year in self.years for name in year["metrics"]))

    def count_metrics(self) -> set[str]:
        return {name for year in self.years for name, value in year["metrics"].items() if isinstance(value, int)}

    @property
    def holds_tables(self) -> bool:
        """Whether the database's tables are still this run's (a later run on the database replaces them)."""
        return self.tables_run_id == self.run_id

    def changed_settings(self) -> list[tuple[str, Any, Any]]:
        """(key, value, default) of every key whose value differs from its default, in the schema's order."""
        if self.config is None:
            return []
        defaults = self.config["defaults"]
        return [(key, value, defaults.get(key)) for key, value in self.config["values"].items()
                if value != defaults.get(key)]


def band_label(band: int) -> str:
    if band == NOT_ENROLLED:
        return "not enrolled"
    return f"{band} %+" if band >= TOP_BAND else f"{band} %"


def read_run(db_path: Path, run_id: str | None) -> RunRecord:
    """The run `run_id` (default: the newest) of the database; InputError naming the problem when there is none."""
    if not db_path.is_file():
        raise InputError(f"no database at {db_path}", "point --db (or DB_PATH) at a database a run has built")
    summaries = _summaries(db_path)
    if not summaries:
        raise InputError(f"no run of {db_path.name} under {db_path.parent.joinpath(*RUNS_FOLDER)}",
                         f"run `planwise run --db {db_path}` first, or point --db at a database a run has built")
    if run_id is None:
        run_id = sorted(summaries)[-1]
    elif run_id not in summaries:
        known = ", ".join(sorted(summaries)[-5:])
        raise InputError(f"--run-id {run_id}: no such run of {db_path.name} (its newest runs: {known})",
                         "pass one of those ids, or leave --run-id out for the newest run")
    summary = json.loads(summaries[run_id].read_text(encoding="utf-8"))
    config_path = summaries[run_id].with_name("config.json")
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else None
    years = [year["year"] for year in summary.get("years", [])]
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            tables_run_id = _newest_run(con)
            if tables_run_id != run_id or not years:
                return RunRecord(db_path, summary, config, tables_run_id)
            return RunRecord(db_path, summary, config, tables_run_id, _rows(con, _EVENTS, years),
                             _rows(con, _DEFERRAL_RATES, years))
    except duckdb.Error as error:
        raise database_failure(error, db_path) from None


def workforce(record: RunRecord) -> tuple[list[str], Iterator[tuple]]:
    """(columns, rows) of fct_workforce_snapshot for the run's years, one row per person-year, by year and id."""
    try:
        con = duckdb.connect(str(record.db_path), read_only=True)
        con.execute("set enable_progress_bar = false")  # its rows are fetched while the sheet is written
        cursor = con.execute("select * from fct_workforce_snapshot where simulation_year = any($years) "
                             "order by simulation_year, employee_id", {"years": [y["year"] for y in record.years]})
    except duckdb.Error as error:
        raise database_failure(error, record.db_path) from None

    def rows() -> Iterator[tuple]:
        try:
            while batch := cursor.fetchmany(10_000):
                yield from batch
        finally:
            con.close()

    return [column[0] for column in cursor.description], rows()


def _summaries(db_path: Path) -> dict[str, Path]:
    """run id -> summary.json of every run of this database (a folder may hold several databases' runs)."""
    found = {}
    for path in db_path.parent.joinpath(*RUNS_FOLDER).glob("*/summary.json"):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # a summary being replaced is never half-written (atomic); anything else is not a run's
        if Path(summary.get("db_path", "")).name == db_path.name:
            found[summary["run_id"]] = path
    return found


def _newest_run(con: duckdb.DuckDBPyConnection) -> str | None:
    exists = con.execute("select count(*) from information_schema.tables where table_name = 'run_metadata'")
    if not exists.fetchone()[0]:
        return None
    row = con.execute("select max(run_id) from run_metadata").fetchone()  # run ids sort by start time
    return row[0]


_EVENTS = """
    select simulation_year as year, event_type, event_category, count(*) as events
    from fct_yearly_events where simulation_year = any($years) group by all order by all"""
_DEFERRAL_RATES = f"""
    select simulation_year as year,
           case when not is_enrolled_flag then {NOT_ENROLLED}
                else least(floor(current_deferral_rate * 100), {TOP_BAND})::integer end as band,
           count(*) as employees
    from fct_workforce_snapshot where simulation_year = any($years) and employment_status = 'active'
    group by all order by all"""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, years: list[int]) -> list[dict]:
    cursor = con.execute(sql, {"years": years})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# ------------------------------------------------------------------------------------------------ ensembles
@dataclass(frozen=True)
class EnsembleRecord:
    """An ensemble's outputs as the deliverables show them."""

    folder: Path
    manifest: dict
    runs: list[dict]  # runs.parquet: scenario, seed, year, every metric (counts int, money and rates Decimal)
    count_metrics: set[str]  # the BIGINT columns of runs.parquet
    bands: list[dict]  # bands.parquet
    paired: list[dict]  # paired.parquet; empty without a baseline scenario

    @property
    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(row["scenario"] for row in self.runs))

    @property
    def years(self) -> list[int]:
        return sorted({row["year"] for row in self.runs})

    def band(self, scenario: str, metric: str, year: int) -> dict | None:
        return _find(self.bands, scenario, metric, year)

    def pairing(self, scenario: str, metric: str, year: int) -> dict | None:
        """paired.parquet's row of (scenario - baseline) for the metric and year."""
        return _find(self.paired, scenario, metric, year)


def _find(rows: list[dict], scenario: str, metric: str, year: int) -> dict | None:
    return next((r for r in rows if (r["scenario"], r["metric"], r["year"]) == (scenario, metric, year)), None)


def read_ensemble(folder: Path) -> EnsembleRecord:
    """An ensemble's --out folder; InputError naming what is missing when it holds no results."""
    fix = "point --ensemble at the --out folder of an ensemble (planwise ensemble ... --out DIR) that finished at " \
          "least one run"
    if not folder.is_dir():
        raise InputError(f"--ensemble {folder}: no such folder", fix)
    for name in ("manifest.json", "runs.parquet", "bands.parquet"):
        if not (folder / name).is_file():
            raise InputError(f"--ensemble {folder}: no {name} there, so no ensemble results", fix)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    with duckdb.connect() as con:
        runs, types = _parquet(con, folder / "runs.parquet")
        bands, _ = _parquet(con, folder / "bands.parquet")
        paired = _parquet(con, folder / "paired.parquet")[0] if (folder / "paired.parquet").is_file() else []
    counts = {name for name, type_ in types.items() if type_ == "BIGINT"} - {"seed"}
    return EnsembleRecord(folder, manifest, runs, counts, bands, paired)


def _parquet(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[dict], dict[str, str]]:
    """A parquet file's rows in file order, and each column's type."""
    cursor = con.execute("select * from read_parquet(?)", [str(path)])
    names, types = [c[0] for c in cursor.description], {c[0]: str(c[1]) for c in cursor.description}
    return [dict(zip(names, row)) for row in cursor.fetchall()], types
