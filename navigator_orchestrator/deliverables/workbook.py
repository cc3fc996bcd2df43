"""`planwise export --format xlsx`: a run's (or an ensemble's) results as an Excel workbook, written with openpyxl
(the optional extra `reports`) in write-only mode, so a `--detail` workbook of many person-years streams.

A run: Summary (one row per year, every metric of summary.json), Events (counts per year and type), Workforce
(with --detail: one row per person-year), Assumptions (every config key, its value and default), Quality (each
year's gate results) and Metadata. An ensemble: Runs, Bands, Paired, Scenario differences and Metadata. Numbers
are numbers (exact decimals as Excel numbers) with formats (money `#,##0.00`, rates `0.00%`, counts `#,##0`),
each sheet's header row frozen and its columns sized to their contents.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from ..errors import InputError
from ..safety.atomic import fsync_dir
from . import figures
from .output import checked_out
from .run_record import EnsembleRecord, RunRecord, read_ensemble, read_run, workforce

REPORTS_EXTRA = "pip install 'planwise-navigator[reports]'"
FORMATS = {figures.MONEY: "#,##0.00", figures.PERCENT: "0.00%", figures.COUNT: "#,##0", figures.FLAG: "0"}
DATE_FORMAT = "yyyy-mm-dd"
SIZED_ROWS = 200  # column widths follow the header and this many first rows
MIN_WIDTH, MAX_WIDTH = 8, 60


class Number(NamedTuple):
    """A cell's value with its Excel number format."""

    value: Any
    number_format: str


def write_run_workbook(db_path: Path, run_id: str | None, out: Path, detail: bool = False) -> Path:
    out = checked_out(out, "results.xlsx")
    openpyxl = _openpyxl()
    record = read_run(db_path, run_id)
    if detail and not record.holds_tables:
        raise InputError(f"--detail: the database's tables now hold run {record.tables_run_id}'s results, not run "
                         f"{record.run_id}'s", "export that run's workbook without --detail, or the newest run with it")
    book = openpyxl.Workbook(write_only=True)
    _summary(book, record)
    _events(book, record)
    if detail:
        columns, rows = workforce(record)
        _sheet(book, "Workforce", columns, (_typed_row(columns, row) for row in rows))
    _assumptions(book, record)
    _quality(book, record)
    _sheet(book, "Metadata", ["field", "value"], _run_metadata(record))
    return _save(book, out)


def write_ensemble_workbook(ensemble_dir: Path, out: Path) -> Path:
    out = checked_out(out, "results.xlsx")
    openpyxl = _openpyxl()
    record = read_ensemble(ensemble_dir)
    book = openpyxl.Workbook(write_only=True)
    metrics = [name for name in record.runs[0] if name not in ("scenario", "seed", "year")]
    _sheet(book, "Runs", ["scenario", "seed", "year", *metrics],
           ([row["scenario"], row["seed"], row["year"], *(_metric_cell(record, m, row[m]) for m in metrics)]
            for row in record.runs))
    for title, rows in (("Bands", record.bands), ("Paired", record.paired)):
        if rows:
            columns = list(rows[0])
            _sheet(book, title, columns, ([_stat_cell(record, row, name) for name in columns] for row in rows))
    differences = record.manifest.get("scenario_differences") or {}
    _sheet(book, "Scenario differences", ["setting", *record.scenarios, "meaning"],
           ([key, *(_setting(values.get(name)) for name in record.scenarios), figures.meaning(key)]
            for key, values in differences.items()))
    _sheet(book, "Metadata", ["field", "value"], _ensemble_metadata(record))
    return _save(book, out)


def _openpyxl():
    try:
        import openpyxl
    except ImportError:
        raise InputError("planwise export --format xlsx needs the 'reports' extra (openpyxl, not installed)",
                         REPORTS_EXTRA) from None
    return openpyxl


# ------------------------------------------------------------------------------------------------ a run's sheets
def _summary(book, record: RunRecord) -> None:
    metrics = [m for _, names in figures.sections(record.metrics) for m in names]
    counts = record.count_metrics()
    rows = ([year["year"], *(Number(_number(year["metrics"].get(m)), FORMATS[figures.kind(m, m in counts)])
                             for m in metrics)] for year in record.years)
    _sheet(book, "Summary", ["year", *metrics], rows, freeze="B2")


def _events(book, record: RunRecord) -> None:
    rows: Iterable[list] = ([e["year"], e["event_type"], e["event_category"], Number(e["events"],
                                                                                     FORMATS[figures.COUNT])]
                            for e in record.events)
    if not record.holds_tables:
        rows = [[f"not available: the database's tables now hold run {record.tables_run_id}'s results"]]
    _sheet(book, "Events", ["year", "event_type", "event_category", "events"], rows)


def _assumptions(book, record: RunRecord) -> None:
    headers = ["setting", "value", "default", "is default", "meaning"]
    if record.config is None:
        _sheet(book, "Assumptions", headers, [["not recorded: the run's folder holds no config.json"]])
        return
    defaults = record.config["defaults"]
    _sheet(book, "Assumptions", headers,
           ([key, _setting(value), _setting(defaults.get(key)),
             "default" if value == defaults.get(key) else "changed", figures.meaning(key)]
            for key, value in record.config["values"].items()))


def _quality(book, record: RunRecord) -> None:
    quality = record.summary.get("quality", {})
    _sheet(book, "Quality", ["year", "check", "severity", "status", "failing_count", "detail", "fix"],
           ([int(year), c["check"], c["severity"], c["status"], c["failing_count"], c.get("detail", ""),
             c.get("hint", "")] for year in sorted(quality, key=int) for c in quality[year]))


def _run_metadata(record: RunRecord) -> list[list]:
    summary, census = record.summary, record.summary.get("census", {})
    rows = [[name, summary.get(name)] for name in ("run_id", "status", "start_year", "end_year", "seed",
                                                   "config_digest", "started_at", "ended_at", "duration_seconds",
                                                   "exit_code", "db_path", "summary_path", "log_path")]
    rows += [["years_completed", ", ".join(str(y["year"]) for y in record.years)],
             ["census_path", census.get("path")], ["census_fingerprint", census.get("fingerprint")],
             ["projected_irs_years", ", ".join(map(str, summary.get("projected_irs_years", [])))],
             ["config_source", record.config["source"] if record.config else "not recorded"],
             ["database_tables_of_run", record.tables_run_id]]
    rows += [[f"version {name}", version] for name, version in summary.get("versions", {}).items()]
    rows += [[f"error {i}", f"{entry['error']} (fix: {entry['fix']})"]
             for i, entry in enumerate(summary.get("recovery", []), 1)]
    return rows


# ------------------------------------------------------------------------------------------------ an ensemble's
def _metric_cell(record: EnsembleRecord, metric: str, value) -> Number:
    return Number(value, FORMATS[figures.kind(metric, metric in record.count_metrics)])


def _stat_cell(record: EnsembleRecord, row: dict, name: str):
    """A bands or paired cell: the band's numbers in the format of the row's metric (n as a count)."""
    value = row[name]
    if name in ("scenario", "baseline", "metric", "year") or value is None:
        return value
    return Number(value, FORMATS[figures.COUNT]) if name == "n" else _metric_cell(record, row["metric"], value)


def _ensemble_metadata(record: EnsembleRecord) -> list[list]:
    manifest = record.manifest
    runs = manifest.get("runs", {})
    rows = [["folder", str(record.folder)], ["status", manifest.get("status")],
            ["created_at", manifest.get("created_at")], ["finished_at", manifest.get("finished_at")],
            ["years", f"{record.years[0]}-{record.years[-1]}"],
            ["seeds", ", ".join(map(str, manifest.get("seeds", [])))],
            ["baseline_scenario", manifest.get("baseline_scenario")],
            ["base_config", manifest.get("base_config", {}).get("path")],
            ["base_config_digest", manifest.get("base_config", {}).get("config_digest")],
            ["census_path", manifest.get("census", {}).get("path")],
            ["census_fingerprint", manifest.get("census", {}).get("fingerprint")],
            ["executor", manifest.get("executor", {}).get("scheduler")],
            ["runs_planned", runs.get("planned")], ["runs_succeeded", runs.get("succeeded")]]
    rows += [[f"failed {key}", error] for key, error in runs.get("failed", {}).items()]
    for scenario in manifest.get("scenarios", []):
        rows += [[f"scenario {scenario['name']} file", scenario["file"]],
                 [f"scenario {scenario['name']} config_digest", scenario["config_digest"]],
                 [f"scenario {scenario['name']} overrides", json.dumps(scenario.get("overrides", {}))]]
    rows += [[f"version {name}", version] for name, version in manifest.get("versions", {}).items()]
    return rows


# ------------------------------------------------------------------------------------------------ writing
def _sheet(book, title: str, headers: list[str], rows: Iterable[list], freeze: str = "A2") -> None:
    """One sheet: a bold frozen header row, then the rows; a `Number` cell gets its number format. Column widths
    follow the header and the first SIZED_ROWS rows (set before any row is written)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    rows = iter(rows)
    first = list(islice(rows, SIZED_ROWS))
    widths = [len(str(h)) for h in headers]
    for row in first:
        for i, cell in enumerate(row):
            text = _shown(cell.value if isinstance(cell, Number) else cell)
            if i < len(widths):
                widths[i] = max(widths[i], len(text))
            else:
                widths.append(len(text))
    for i, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, MIN_WIDTH), MAX_WIDTH)
    sheet.freeze_panes = freeze
    bold = Font(bold=True)
    sheet.append([_styled(WriteOnlyCell(sheet, value=h), font=bold) for h in headers])
    for row in chain(first, rows):
        sheet.append([_styled(WriteOnlyCell(sheet, value=c.value), number_format=c.number_format)
                      if isinstance(c, Number) else c for c in row])


def _styled(cell, **style):
    for name, value in style.items():
        setattr(cell, name, value)
    return cell


def _shown(value) -> str:
    """About how wide Excel shows a value (numbers with separators and two decimals)."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


def _typed_row(columns: list[str], row: tuple) -> list:
    """A snapshot row: money to the cent, deferral rates as percent, dates as dates."""
    cells = []
    for name, value in zip(columns, row):
        if isinstance(value, Decimal):
            cells.append(Number(value, FORMATS[figures.PERCENT if name.endswith("_rate") else figures.MONEY]))
        elif hasattr(value, "isoformat") and not isinstance(value, str):
            cells.append(Number(value, DATE_FORMAT))
        else:
            cells.append(value)
    return cells


def _number(value):
    """A summary value as an Excel number: exact decimal strings as Decimal, counts as int."""
    return Decimal(value) if isinstance(value, str) else value


def _setting(value):
    """A config value for a cell: numbers, text and booleans as they are, lists and null as JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) or value is None else value


def _save(book, out: Path) -> Path:
    """Saved beside `out` under a temp name, then renamed over it: a failure leaves no partial workbook."""
    tmp = out.with_name(out.name + ".tmp")
    try:
        book.save(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)
    return out
