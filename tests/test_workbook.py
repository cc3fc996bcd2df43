"""`planwise export --format xlsx`: the workbook read back with openpyxl. A run's Summary equals summary.json to
the cent, with money, percent and count formats, frozen headers and sized columns; Assumptions lists every config
key with the changed ones marked; Events, Quality and Metadata are the run's; --detail adds one row per
person-year. An ensemble's Paired sheet equals paired.parquet cell by cell. Without openpyxl the command is one
line naming the extra. Each check is also shown to catch a broken workbook.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import openpyxl

from navigator_orchestrator.cli import run_cli
from navigator_orchestrator.inputs.config import SCHEMA, SimulationConfig, load_config
from pytest_planwise.commands import planwise_command
from support.deliverables import ensemble, run  # noqa: F401 (fixtures)
from support.deliverables import cent, summary_file

RUN_SHEETS = ["Summary", "Events", "Assumptions", "Quality", "Metadata"]
MONEY, PERCENT, COUNT = "#,##0.00", "0.00%", "#,##0"


def export(args: list, out: Path, capsys) -> openpyxl.Workbook:
    assert run_cli(["export", "--format", "xlsx", *map(str, args), "--out", str(out)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    return openpyxl.load_workbook(out)


def records(sheet) -> list[dict]:
    """The sheet's rows under its header, as dicts."""
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def summary_problems(sheet, summary: dict) -> list[str]:
    """One row per year, every metric of summary.json, each equal to it to the cent (counts exactly)."""
    problems = []
    rows = {row["year"]: row for row in records(sheet)}
    if sorted(rows) != [y["year"] for y in summary["years"]]:
        problems.append(f"years {sorted(rows)}")
    for year in summary["years"]:
        row = rows.get(year["year"], {})
        for metric, value in year["metrics"].items():
            cell = row.get(metric)
            same = cell == value if isinstance(value, int) else cell is not None and cent(cell) == cent(value)
            if not same:
                problems.append(f"{year['year']} {metric}: workbook {cell}, summary.json {value}")
    return problems


def test_the_run_workbooks_summary_equals_summary_json_to_the_cent(run, tmp_path, capsys):
    out = tmp_path / "results.xlsx"
    book = export(["--db", run.db_path], out, capsys)
    assert book.sheetnames == RUN_SHEETS  # the Workforce sheet only with --detail
    summary = summary_file(run)
    sheet = book["Summary"]
    assert summary_problems(sheet, summary) == []
    header = [cell.value for cell in sheet[1]]
    formats = {name: cell.number_format for name, cell in zip(header, sheet[2])}
    assert formats["employer_match"] == formats["net_employer_cost"] == formats["prorated_payroll"] == MONEY
    assert formats["participation_rate"] == PERCENT and formats["end_headcount"] == formats["hire_events"] == COUNT
    for name in RUN_SHEETS:
        assert book[name].freeze_panes in ("A2", "B2"), name  # the header row stays in view
        widths = [book[name].column_dimensions[cell.column_letter].width for cell in book[name][1]]
        assert all(width >= 8 for width in widths), (name, widths)
    # a workbook one cent off is caught
    sheet.cell(row=4, column=header.index("employer_core") + 1).value += 0.01
    assert [p.split(":")[0] for p in summary_problems(sheet, summary)] == ["2027 employer_core"]


def missing_settings(sheet) -> list[str]:
    listed = [row["setting"] for row in records(sheet)]
    return [setting.key for setting in SCHEMA if setting.key not in listed]


def test_assumptions_list_every_config_key_with_the_changed_ones_marked(run, tmp_path, capsys):
    book = export(["--db", run.db_path], tmp_path / "results.xlsx", capsys)
    rows = records(book["Assumptions"])
    assert missing_settings(book["Assumptions"]) == [] and len(rows) == len(SCHEMA)
    years = {"simulation.start_year": 2025, "simulation.end_year": 2027}  # given as --years, not in the file
    used, defaults = load_config(run.folder / "config.yaml", years).values, SimulationConfig().values
    changed = {key for key in used if used[key] != defaults[key]}
    assert changed == {"simulation.end_year", "employer_match.rate"}
    assert {row["setting"] for row in rows if row["is default"] == "changed"} == changed
    rate = next(row for row in rows if row["setting"] == "employer_match.rate")
    assert (rate["value"], rate["default"]) == (0.75, 0.5) and "match" in rate["meaning"]
    book["Assumptions"].delete_rows(5)  # a key left out is caught
    assert missing_settings(book["Assumptions"]) == [SCHEMA[3].key]


def test_events_quality_and_metadata_are_the_runs(run, tmp_path, capsys):
    book = export(["--db", run.db_path], tmp_path / "results.xlsx", capsys)
    counted = run.query("select simulation_year, event_type, event_category, count(*) from fct_yearly_events "
                        "group by all order by all")
    assert [tuple(row.values()) for row in records(book["Events"])] == counted
    book["Events"]["D2"].value += 1  # a count off by one is caught
    assert [tuple(row.values()) for row in records(book["Events"])] != counted
    summary = summary_file(run)
    gates = [(int(year), c["check"], c["status"], c["failing_count"]) for year, checks in summary["quality"].items()
             for c in checks]
    assert [(r["year"], r["check"], r["status"], r["failing_count"]) for r in records(book["Quality"])] == gates
    facts = {row["field"]: row["value"] for row in records(book["Metadata"])}
    assert facts["run_id"] == summary["run_id"] and facts["seed"] == 42
    assert facts["config_digest"] == summary["config_digest"]
    assert facts["census_fingerprint"] == summary["census"]["fingerprint"]
    assert facts["version duckdb"] == summary["versions"]["duckdb"] and facts["started_at"] == summary["started_at"]


def test_detail_adds_one_row_per_person_year(run, tmp_path, capsys):
    book = export(["--db", run.db_path, "--detail"], tmp_path / "detail.xlsx", capsys)
    assert book.sheetnames == ["Summary", "Events", "Workforce", "Assumptions", "Quality", "Metadata"]
    sheet = book["Workforce"]
    with run.connect() as con:
        columns = [c[0] for c in con.execute("select * from fct_workforce_snapshot limit 0").description]
        people = con.execute("select simulation_year, employee_id from fct_workforce_snapshot "
                             "order by all").fetchall()
    assert [cell.value for cell in sheet[1]] == columns
    year, employee = columns.index("simulation_year"), columns.index("employee_id")
    assert sorted((row[year], row[employee]) for row in sheet.iter_rows(min_row=2, values_only=True)) == people
    assert sheet.cell(row=2, column=columns.index("current_compensation") + 1).number_format == MONEY


def test_the_ensemble_workbooks_paired_sheet_equals_paired_parquet(ensemble, tmp_path, capsys):
    book = export(["--ensemble", ensemble.out], tmp_path / "ensemble.xlsx", capsys)
    assert book.sheetnames == ["Runs", "Bands", "Paired", "Scenario differences", "Metadata"]

    def parquet(name: str) -> tuple[list[str], list[tuple]]:
        with duckdb.connect() as con:
            cursor = con.execute("select * from read_parquet(?)", [str(ensemble.out / name)])
            return [c[0] for c in cursor.description], cursor.fetchall()

    columns, paired = parquet("paired.parquet")
    sheet = book["Paired"]
    assert [cell.value for cell in sheet[1]] == columns
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == paired
    metric, width = columns.index("metric") + 1, columns.index("paired_width") + 1
    formats = {sheet.cell(row=r, column=metric).value: sheet.cell(row=r, column=width).number_format
               for r in range(2, sheet.max_row + 1)}
    assert formats["employer_cost"] == MONEY and formats["participation_rate"] == PERCENT
    assert formats["end_headcount"] == COUNT
    assert book["Bands"].max_row - 1 == len(parquet("bands.parquet")[1])
    assert book["Runs"].max_row - 1 == len(parquet("runs.parquet")[1]) == 2 * 2 * 3
    differences = {row["setting"]: (row["default"], row["rich_match"]) for row in records(book["Scenario differences"])}
    assert differences == {"employer_match.rate": (0.5, 1.0), "match_response.enabled": (False, True)}
    sheet.cell(row=3, column=columns.index("p50") + 1).value += 1.0  # a changed figure is caught
    assert list(sheet.iter_rows(min_row=2, values_only=True)) != paired


def test_without_openpyxl_export_is_one_line_naming_the_extra_and_writes_nothing(run, tmp_path):
    shadow = tmp_path / "without_openpyxl" / "openpyxl"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'openpyxl'\", name='openpyxl')\n")
    path = os.pathsep.join(p for p in (str(shadow.parent), os.environ.get("PYTHONPATH")) if p)
    out = tmp_path / "results.xlsx"
    done = planwise_command(["export", "--format", "xlsx", "--db", run.db_path, "--out", out], tmp_path,
                            {"PYTHONPATH": path})
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("planwise: error: ") and "'reports' extra" in line
    assert "pip install 'planwise-navigator[reports]'" in line
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_bad_export_input_is_one_line_exit_2(run, ensemble, tmp_path, capsys):
    out = tmp_path / "results.xlsx"
    for args, message in (((["--ensemble", ensemble.out, "--detail"]), "--detail adds a run's person-years"),
                          ((["--db", tmp_path / "none.duckdb"]), "no database at "),
                          ((["--ensemble", tmp_path]), "no manifest.json there")):
        assert run_cli(["export", "--format", "xlsx", *map(str, args), "--out", str(out)]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("planwise: error: ") and message in line and "(fix: " in line
        assert not out.exists()
