"""A census as the client sends it: an .xlsx (the first sheet, or `--census-sheet`) with the client's own headers
and date style, read through `--census-map MAP.yaml` (inputs/census_spreadsheet.py, inputs/census_map.py).

The bundled census written that way gives the same run as the parquet census, table for table; the same people
give the same census fingerprint (so `--resume` and ensembles keep working); `planwise init` and
`planwise ensemble` read it too. Every bad map, sheet or cell is one `planwise: error:` line naming it, exit 2,
with nothing written and an existing database byte-identical.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from openpyxl import Workbook, load_workbook

from navigator_orchestrator import latest_summary
from navigator_orchestrator.cli import run_cli
from navigator_orchestrator.errors import CensusError
from navigator_orchestrator.inputs import paths
from navigator_orchestrator.inputs.census import stage_census
from navigator_orchestrator.inputs.census_map import load_census_map, strftime_format
from test_cli_inputs import (SMALL_CENSUS, assert_one_error_line, assert_rejected_without_writing, cli,
                             default_config, small_census, tree)
from test_cli_inputs import existing_db  # noqa: F401 - the fixture: a private copy of a finished run's database

CENSUS_DATE = dt.date(2024, 12, 31)
#: The client's header for each column the generator writes.
CLIENT_HEADERS = {
    "employee_id": "Emp ID", "employee_ssn": "SSN", "employee_birth_date": "Date of Birth",
    "employee_hire_date": "Hire Date", "employee_termination_date": "Term Date",
    "employee_gross_compensation": "Annual Salary", "employee_capped_compensation": "Capped Pay",
    "employee_deferral_rate": "Deferral %", "employee_contribution": "EE Contributions",
    "pre_tax_contribution": "Pre-Tax",
    "roth_contribution": "Roth", "after_tax_contribution": "After-Tax", "employer_core_contribution": "ER Core",
    "employer_match_contribution": "ER Match", "eligibility_entry_date": "Plan Entry", "active": "Active?",
    "employer_match_balance": "Match Balance", "employer_core_balance": "Core Balance",
}
# every table of a run but its own records (its id, its quality results): the simulation, seeds to marts
RUN_RECORDS = {"run_metadata", "dq_results"}
MARTS = {"fct_workforce_snapshot", "fct_yearly_events", "fct_employer_cost", "fct_employer_accounts",
         "fct_nondiscrimination"}


# ------------------------------------------------------------------------------------------------ helpers


def census_rows(census: Path) -> tuple[list[str], list[tuple]]:
    reader = "read_csv(?, header = true)" if census.suffix == ".csv" else "read_parquet(?)"
    with duckdb.connect() as con:
        cursor = con.execute(f"SELECT * FROM {reader}", [str(census)])
        return [column[0] for column in cursor.description], cursor.fetchall()


def write_workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = Workbook(write_only=True)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def client_workbook(census: Path, out: Path, date_style: str = "%m/%d/%Y", reverse: bool = False,
                    notes: bool = False) -> Path:
    """The census as a client sends it: its headers, dates as text in `date_style` (None: real date cells), an
    optional extra column the engine ignores, rows in any order."""
    columns, rows = census_rows(census)
    body = [[(v.strftime(date_style) if date_style else v) if isinstance(v, dt.date) else v for v in row]
            + (["see HR"] if notes else []) for row in (reversed(rows) if reverse else rows)]
    return write_workbook(out, {"Census": [[CLIENT_HEADERS[c] for c in columns] + (["Notes"] if notes else []),
                                           *body]})


def client_map(path: Path, columns: dict | None = None, date_format: str | None = "MM/DD/YYYY") -> Path:
    data = {"columns": CLIENT_HEADERS if columns is None else columns}
    if date_format is not None:
        data["date_format"] = date_format
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def staged_rows_sha256(db: Path) -> str:
    """sha256 of a database's raw_census rows in id order, computed here: what a census read through a map
    fingerprints as."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT sha256(string_agg(md5(r::VARCHAR), '' ORDER BY employee_id)) FROM raw_census r"
                           ).fetchone()[0]


def assert_same_tables(first: Path, second: Path, required: set[str] = MARTS | {"raw_census"}) -> set[str]:
    """Every table of two databases (but a run's own records) holds the same rows, both ways, and the `required`
    ones are among them, not empty; returns the tables compared."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{first}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{second}' AS b (READ_ONLY)")
        tables = {alias: {name for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [alias]).fetchall()} - RUN_RECORDS
            for alias in ("a", "b")}
        assert tables["a"] == tables["b"]
        assert required <= tables["a"], tables["a"]
        for table in sorted(tables["a"]):
            counts = [con.execute(f"SELECT count(*) FROM {alias}.{table}").fetchone()[0] for alias in ("a", "b")]
            assert counts[0] == counts[1], (table, counts)
            assert counts[0] > 0 or table not in required, f"{table} is empty: nothing was compared"
            for x, y in (("a", "b"), ("b", "a")):
                extra = con.execute(f"SELECT count(*) FROM (FROM {x}.{table} EXCEPT ALL FROM {y}.{table})").fetchone()
                assert extra == (0,), f"{table}: {extra[0]} rows of {x} are not in {y}"
        return tables["a"]


@pytest.fixture
def client_files(tmp_path) -> tuple[Path, Path]:
    """The 300-person census as a client workbook with its map, under tmp_path."""
    return (client_workbook(small_census(tmp_path), tmp_path / "client.xlsx"), client_map(tmp_path / "map.yaml"))


# ------------------------------------------------------------------------------------------------ the same run


def test_the_bundled_census_as_a_client_workbook_gives_the_same_run_as_the_parquet(planwise_run, tmp_path, capsys):
    parquet_run = planwise_run(years="2025-2026")  # the bundled census: 5,000 people, census seed 42
    assert parquet_run.status == "success", parquet_run.stderr
    parquet = Path(parquet_run.summary["census"]["path"])
    workbook = client_workbook(parquet, tmp_path / "client.xlsx")
    mapping = client_map(tmp_path / "map.yaml")
    sheet = load_workbook(workbook, read_only=True)["Census"]
    header, first = (list(row) for row in sheet.iter_rows(min_row=1, max_row=2, values_only=True))
    assert header == list(CLIENT_HEADERS.values())  # the file really is the client's: other headers, US dates
    assert all(len(first[header.index(h)]) == 10 and first[header.index(h)][2] == "/"
               for h in ("Date of Birth", "Hire Date", "Plan Entry"))

    db, config = tmp_path / "simulation.duckdb", parquet_run.folder / "config.yaml"
    code = run_cli([str(arg) for arg in ("run", "--years", "2025-2026", "--seed", "42", "--config", config,
                                         "--census", workbook, "--census-map", mapping, "--db", db, "--threads", "2")])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = latest_summary(db)
    assert summary["status"] == "success" and summary["years_processed"] == [2025, 2026], summary["errors"]
    compared = assert_same_tables(parquet_run.db_path, db)
    assert MARTS <= compared
    broken = tmp_path / "broken.duckdb"  # the comparison itself sees one cent of one person-year
    shutil.copyfile(db, broken)
    with duckdb.connect(str(broken)) as con:
        con.execute("UPDATE fct_workforce_snapshot SET current_compensation = current_compensation + 0.01 "
                    "WHERE employee_id = (SELECT min(employee_id) FROM fct_workforce_snapshot)")
    with pytest.raises(AssertionError, match="fct_workforce_snapshot: 2 rows of a are not in b"):
        assert_same_tables(parquet_run.db_path, broken)

    census = summary["census"]
    assert (census["sheet"], census["census_map"]) == ("Census", str(mapping))
    assert census["rows_read"] == parquet_run.summary["census"]["rows_read"] == 5000
    assert census["fingerprint"] == staged_rows_sha256(db)  # the staged rows, not the workbook's bytes
    assert parquet_run.summary["census"]["fingerprint"] == hashlib.sha256(parquet.read_bytes()).hexdigest()

    # the same people in another workbook (rows reversed, one more column) fingerprint alike: --resume skips both
    # years; one person's pay changed is another census, and --resume rebuilds
    again = client_workbook(parquet, tmp_path / "again.xlsx", reverse=True, notes=True)
    assert again.read_bytes() != workbook.read_bytes()
    code = run_cli([str(arg) for arg in ("run", "--years", "2025-2026", "--seed", "42", "--config", config,
                                         "--census", again, "--census-map", mapping, "--db", db, "--threads", "2",
                                         "--resume")])
    assert code == 0, capsys.readouterr().out
    resumed = latest_summary(db)
    assert resumed["census"]["fingerprint"] == census["fingerprint"]
    assert resumed["years_skipped"] == [2025, 2026], resumed["resume"]

    book = load_workbook(again)
    book["Census"]["F2"] = book["Census"]["F2"].value + 1000  # Annual Salary of the first row
    book.save(again)
    with stage_census(again, CENSUS_DATE, census_map=mapping) as staged:
        assert staged.report.fingerprint != census["fingerprint"]


def test_the_same_people_fingerprint_alike_however_they_are_written(tmp_path):
    """A workbook through a map, a CSV through a date-only map and a workbook with real date cells and PlanWise
    headers stage the same rows and fingerprint alike; a plain .parquet or .csv keeps its file's sha256."""
    csv = small_census(tmp_path)
    with stage_census(csv, CENSUS_DATE) as staged:
        plain = staged.report.fingerprint
        staged.write_to(tmp_path / "plain.duckdb")
    assert plain == hashlib.sha256(csv.read_bytes()).hexdigest()
    columns, rows = census_rows(csv)
    us_csv = tmp_path / "us_dates.csv"
    with duckdb.connect() as con:
        dates = ("employee_birth_date", "employee_hire_date", "employee_termination_date", "eligibility_entry_date")
        replaced = ", ".join(f"strftime({c}, '%m/%d/%Y') AS {c}" for c in dates)
        con.execute(f"COPY (SELECT * REPLACE ({replaced}) FROM read_csv('{csv}')) TO '{us_csv}' (HEADER)")
    readings = {
        "workbook + map": (client_workbook(csv, tmp_path / "client.xlsx"), client_map(tmp_path / "map.yaml")),
        "csv + date_format": (us_csv, client_map(tmp_path / "dates.yaml", columns={}, date_format="%m/%d/%Y")),
        "workbook, real dates": (write_workbook(tmp_path / "plain.xlsx", {"Sheet1": [columns, *map(list, rows)]}),
                                 None),
    }
    expected = staged_rows_sha256(tmp_path / "plain.duckdb")
    for name, (census, mapping) in readings.items():
        db = tmp_path / f"{name}.duckdb"
        with stage_census(census, CENSUS_DATE, census_map=mapping) as staged:
            assert staged.report.fingerprint == expected, name
            staged.write_to(db)
        assert assert_same_tables(tmp_path / "plain.duckdb", db, {"raw_census"}) == {"raw_census"}


# ------------------------------------------------------------------------------------------------ reading cells


def test_real_date_cells_short_dates_numbers_and_a_named_sheet(tmp_path):
    """Cells as a client's Excel holds them: real dates, dates without leading zeros, whole and decimal numbers,
    booleans, a numeric id; the census on the second sheet, named with --census-sheet; one header for two columns;
    an extra column and one without a header (named by its letter) ignored, an empty one without a header left
    out."""
    header = ["ID", "SSN", "Born", "Hired", "Left", "Salary", "Deferral", "Active", "Notes", None, None]
    rows = [
        ["E1", "100-00-0001", dt.datetime(1980, 3, 5), "4/7/2010", None, 80000, 0.06, True, "x", None, None],
        [1002, "100-00-0002", "12/31/1985", dt.datetime(2016, 3, 1, 0, 0), "06/30/2024", 65000.5, 0, False, None, 7],
        ["E3", "100-00-0003", "1/2/1990", "1/2/2015", None, "70000", "0.1", "true", None, None, None],
    ]
    workbook = write_workbook(tmp_path / "client.xlsx", {"Read me": [["Census of Acme, as of 12/31/2024"]],
                                                          "Census": [header, *rows]})
    mapping = client_map(tmp_path / "map.yaml", date_format="%m/%d/%Y", columns={
        "employee_id": "ID", "employee_ssn": "SSN", "employee_birth_date": "Born", "employee_hire_date": "Hired",
        "employee_termination_date": "Left", "employee_gross_compensation": "Salary",
        "employee_deferral_rate": "Deferral", "active": "Active", "eligibility_entry_date": "Hired"})
    with stage_census(workbook, CENSUS_DATE, "Census", mapping) as staged:
        report = staged.report
        kept = staged.con.execute("SELECT employee_id, employee_birth_date, employee_hire_date, "
                                  "employee_termination_date, employee_gross_compensation, employee_deferral_rate, "
                                  "active FROM staged ORDER BY employee_id").fetchall()
        assert staged.con.execute("SELECT count(*) FROM staged WHERE eligibility_entry_date = employee_hire_date"
                                  ).fetchone() == (3,)
    assert kept == [
        ("1002", dt.date(1985, 12, 31), dt.date(2016, 3, 1), dt.date(2024, 6, 30), Decimal("65000.50"),
         Decimal("0.0000"), False),
        ("E1", dt.date(1980, 3, 5), dt.date(2010, 4, 7), None, Decimal("80000.00"), Decimal("0.0600"), True),
        ("E3", dt.date(1990, 1, 2), dt.date(2015, 1, 2), None, Decimal("70000.00"), Decimal("0.1000"), True),
    ]
    assert (report.rows_read, report.active_rows, report.rejected) == (3, 2, {})
    assert (report.sheet, report.census_map, report.extra_columns) == ("Census", str(mapping), ["Notes", "column J"])

    with pytest.raises(CensusError, match="header 'ID' is not in .*client.xlsx, sheet 'Read me'"):  # the first sheet
        stage_census(workbook, CENSUS_DATE, census_map=mapping)


def test_an_xlsx_with_planwise_headers_needs_no_map(tmp_path):
    csv = small_census(tmp_path)
    columns, rows = census_rows(csv)
    workbook = write_workbook(tmp_path / "census.xlsx", {"Census": [columns, *map(list, rows)]})
    db = tmp_path / "sim.duckdb"
    for census, table in ((csv, "from_csv"), (workbook, "from_xlsx")):
        with stage_census(census, CENSUS_DATE) as staged:
            staged.write_to(db, table)
    with duckdb.connect(str(db)) as con:
        for x, y in (("from_csv", "from_xlsx"), ("from_xlsx", "from_csv")):
            assert con.execute(f"SELECT count(*) FROM (FROM {x} EXCEPT ALL FROM {y})").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM from_xlsx").fetchone() == (SMALL_CENSUS,)


# ------------------------------------------------------------------------------------------------ the map alone


@pytest.mark.parametrize(("text", "problems"), [
    ("columns:\n  employe_id: Emp ID\n", ["columns.employe_id: unknown census column; did you mean 'employee_id'?"]),
    ("columns:\n  department: Dept\n", ["columns.department: unknown census column; the census columns are "
                                       "employee_id, employee_ssn"]),
    ("columns:\n  employee_id: Emp ID\n  employee_id: Badge\n", ["columns.employee_id: duplicate key at line 3"]),
    ("columns:\n  employee_id: [Emp ID, Badge]\n", ["columns.employee_id: two headers for one column ('Emp ID', "
                                                    "'Badge')"]),
    ("columns:\n  employee_id: 17\n", ["columns.employee_id: expected the file's header as text, got 17"]),
    ("date_format: '%m/%d/%y'\n", ["date_format '%m/%d/%y': %y cannot be read; use %Y"]),
    ("date_format: MM/DD/YY\n", ["date_format 'MM/DD/YY': use YYYY (four-digit year), MM and DD"]),
    ("date_format: MM/YYYY\n", ["date_format 'MM/YYYY': needs a year (%Y or YYYY), a month and a day, each once "
                                "(%d 0 times)"]),
    ("colums:\n  employee_id: Emp ID\n", ["colums: unknown key; did you mean 'columns'?",
                                          "says nothing: give columns"]),
    ("columns:\n  employe_id: Emp ID\ndate_format: MM/DD/YY\nsheet: Census\n",
     ["sheet: unknown key; the keys are columns and date_format", "columns.employe_id: unknown census column",
      "date_format 'MM/DD/YY'"]),
    ("- employee_id\n", ["expected a mapping with columns and date_format, got a list"]),
    ("columns: {employee_id: Emp ID\n", ["invalid YAML at line 2"]),
])
def test_every_problem_of_a_map_is_named_in_one_line(tmp_path, text, problems):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(CensusError) as error:
        load_census_map(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"census map {path}: ") and error.value.exit_code == 2
    for problem in problems:
        assert problem in message, message


def test_a_good_map_loads_with_its_date_format_as_strftime(tmp_path):
    mapping = load_census_map(client_map(tmp_path / "map.yaml"))
    assert (mapping.columns, mapping.date_format, mapping.date_format_text) == (CLIENT_HEADERS, "%m/%d/%Y",
                                                                                 "MM/DD/YYYY")
    assert [strftime_format(text) for text in ("MM/DD/YYYY", "DD.MM.YYYY", "YYYYMMDD", "%d-%m-%Y")] == [
        ("%m/%d/%Y", None), ("%d.%m.%Y", None), ("%Y%m%d", None), ("%d-%m-%Y", None)]
    assert strftime_format("%Y-%m-%d %H:%M")[0] is None and strftime_format("DD/MM/YYYY/DD")[0] is None


# ------------------------------------------------------------------------------------------------ bad input at the CLI


def _map_with(**changes: str | None):
    """A map like the client's with some columns' headers changed (None: the column left out of the map)."""
    columns = {k: v for k, v in {**CLIENT_HEADERS, **changes}.items() if v is not None}
    return lambda tmp_path: ["--census-map", client_map(tmp_path / "bad_map.yaml", columns=columns)]


def _date_format(text: str):
    return lambda tmp_path: ["--census-map", client_map(tmp_path / "bad_map.yaml", date_format=text)]


def _bad_date_in_row(row: int, value: str):
    """The client workbook with one hire date (data row `row`) that is not MM/DD/YYYY."""
    def make(tmp_path: Path) -> list:
        book = load_workbook(tmp_path / "client.xlsx")
        book["Census"][f"D{row + 1}"] = value
        book.save(tmp_path / "bad_dates.xlsx")
        return ["--census", tmp_path / "bad_dates.xlsx", "--census-map", tmp_path / "map.yaml"]
    return make


def _with_header(column: str, header: str, name: str):
    """The client workbook (with its extra Notes column, S) with the header of `column` (a letter) replaced."""
    def make(tmp_path: Path) -> list:
        book = load_workbook(client_workbook(small_census(tmp_path), tmp_path / name, notes=True))
        book["Census"][f"{column}1"] = header
        book.save(tmp_path / name)
        return ["--census", tmp_path / name, "--census-map", tmp_path / "map.yaml"]
    return make


def _garbage(tmp_path: Path) -> list:
    (tmp_path / "garbage.xlsx").write_bytes(b"PK\x03\x04 not really a workbook" * 20)
    return ["--census", tmp_path / "garbage.xlsx"]


def _empty_sheet(tmp_path: Path) -> list:
    write_workbook(tmp_path / "empty.xlsx", {"Census": []})
    return ["--census", tmp_path / "empty.xlsx", "--census-map", tmp_path / "map.yaml"]


@pytest.mark.parametrize(("make", "needles"), [
    pytest.param(_map_with(employe_id="Emp ID"), ["census map", "columns.employe_id", "unknown census column",
                                                  "did you mean 'employee_id'"], id="unknown-target-column"),
    pytest.param(_map_with(employee_birth_date="DOB"), ["columns.employee_birth_date", "header 'DOB' is not in",
                                                        "client.xlsx, sheet 'Census'"], id="mapped-header-missing"),
    pytest.param(_map_with(employee_id="Emp IDs"), ["header 'Emp IDs' is not in", "did you mean 'Emp ID'"],
                 id="header-suggested"),
    pytest.param(_with_header("S", "employee_id", "two_ids.xlsx"), ["columns.employee_id", "two headers for one column",
                                                                   "'Emp ID' (mapped) and 'employee_id'"],
                 id="two-headers-one-column"),
    pytest.param(_with_header("D", "Emp ID", "repeated.xlsx"), ["repeated.xlsx", "'Emp ID'", "columns A and D"],
                 id="header-repeated-in-sheet"),
    pytest.param(_date_format("%m/%d/%y"), ["date_format '%m/%d/%y'", "%y", "%Y"], id="bad-date-format"),
    pytest.param(_bad_date_in_row(7, "2010-13-45"), ["employee_hire_date (header 'Hire Date')", "1 value",
                                                     "MM/DD/YYYY", "data row 7"], id="date-not-in-format"),
    pytest.param(_bad_date_in_row(9, "3/5/80"), ["employee_hire_date", "MM/DD/YYYY", "data row 9"],
                 id="two-digit-year"),
    pytest.param(lambda tmp_path: ["--census-sheet", "Staff"], ["client.xlsx", "no sheet 'Staff'", "'Census'"],
                 id="missing-sheet"),
    pytest.param(_garbage, ["garbage.xlsx", "as xlsx"], id="unreadable-workbook"),
    pytest.param(_empty_sheet, ["empty.xlsx", "sheet 'Census' is empty"], id="empty-sheet"),
    pytest.param(lambda tmp_path: ["--census-map", tmp_path / "no_such_map.yaml"],
                 ["census map", "no_such_map.yaml", "file not found"], id="map-not-found"),
])
def test_a_bad_map_sheet_or_cell_exits_2_and_writes_nothing(tmp_path, existing_db, client_files, make, needles):
    workbook, mapping = client_files
    extra = [str(arg) for arg in make(tmp_path)]
    census = [] if "--census" in extra else ["--census", workbook]
    reading = [] if "--census-map" in extra or "--census" in extra else ["--census-map", mapping]
    args = ["run", "--years", "2025-2025", "--config", default_config(tmp_path), *census, *reading, *extra]
    assert_rejected_without_writing(tmp_path, existing_db, args, *needles)


def test_an_xlsx_without_the_reports_extra_is_one_line_naming_it(tmp_path, client_files):
    """openpyxl hidden (a package of that name that cannot be imported comes first on PYTHONPATH)."""
    shadow = tmp_path / "shadow" / "openpyxl"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('openpyxl is not installed')\n")
    workbook, mapping = client_files
    (tmp_path / "db").mkdir()
    run = ["run", "--years", "2025-2025", "--config", default_config(tmp_path), "--db", tmp_path / "db" / "x.duckdb",
           "--census", workbook, "--census-map", mapping]
    before = tree(tmp_path)
    for args in (run, ["census", "inspect", workbook, "--census-map", mapping, "--html", tmp_path / "census.html"]):
        done = cli(args, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "shadow")})
        assert_one_error_line(done, "client.xlsx", "'reports' extra", "pip install 'planwise-navigator[reports]'")
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------------------------------ init and ensemble


def test_init_writes_a_client_workbook_as_the_parquet_of_its_staged_rows(tmp_path, client_files):
    workbook, mapping = client_files
    assert run_cli(["init", str(tmp_path / "acme"), "--census", str(workbook), "--census-map", str(mapping)]) == 0
    census = tmp_path / "acme" / "census"
    assert sorted(p.name for p in census.iterdir()) == ["README.md", "client.parquet"]
    with stage_census(small_census(tmp_path), CENSUS_DATE) as staged:
        staged.write_to(tmp_path / "expected.duckdb")
    with duckdb.connect(str(tmp_path / "expected.duckdb")) as con:
        written = f"read_parquet('{census / 'client.parquet'}')"
        columns = [c for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE SELECT * FROM {written})").fetchall()]
        assert "vesting_service_years" not in columns  # absent from the client's file, absent from the project's
        for x, y in ((written, "raw_census"), ("raw_census", written)):
            assert con.execute(f"SELECT count(*) FROM (SELECT {', '.join(columns)} FROM {x} EXCEPT ALL "
                               f"SELECT {', '.join(columns)} FROM {y})").fetchone() == (0,)

    bad = client_map(tmp_path / "bad.yaml", columns={**CLIENT_HEADERS, "employee_hire_date": "Hired On"})
    before = tree(tmp_path)
    done = cli(["init", "beta", "--census", workbook, "--census-map", bad], cwd=tmp_path)
    assert_one_error_line(done, "census map", "header 'Hired On' is not in")
    assert tree(tmp_path) == before and not (tmp_path / "beta").exists()


def test_an_ensemble_reads_the_client_workbook_in_every_run(tmp_path, client_files):
    workbook, mapping = client_files
    out = tmp_path / "ens"
    done = cli(["ensemble", "--scenarios", paths.SHIPPED_SCENARIOS / "default.yaml", "--seeds", "1-2", "--years",
                "2025", "--out", out, "--census", workbook, "--census-map", mapping, "--workers", "1",
                "--config", default_config(tmp_path)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with stage_census(small_census(tmp_path), CENSUS_DATE) as staged:
        staged.write_to(tmp_path / "expected.duckdb")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["census"]["fingerprint"] == staged_rows_sha256(tmp_path / "expected.duckdb")
    with duckdb.connect() as con:
        runs = con.execute(f"SELECT scenario, seed, year, start_headcount FROM read_parquet('{out / 'runs.parquet'}') "
                           f"ORDER BY seed").fetchall()
        active, = con.execute(f"SELECT count(*) FROM read_csv('{small_census(tmp_path)}') "
                              f"WHERE employee_termination_date IS NULL AND active").fetchone()
    assert runs == [("default", 1, 2025, active), ("default", 2, 2025, active)]
