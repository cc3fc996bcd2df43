"""`planwise census inspect PATH [--census-sheet NAME] [--census-map MAP.yaml] [--html FILE]`: what a run would make
of a census, before any run (inputs/census_inspect.py, deliverables/census_page.py).

The people dropped and why are staging's own lines; every other figure (actives, the age, tenure and pay bands,
participation, the deferral rates) is recounted here in Python from the file's rows, with the band edges read
from the engine's macros (dbt/macros/bands.sql). A bad census or --html path is one line, exit 2, no page.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from navigator_orchestrator.cli import run_cli
from navigator_orchestrator.inputs import paths
from navigator_orchestrator.inputs.census import stage_census
from navigator_orchestrator.inputs.census_inspect import BANDS, TOP_RATE
from navigator_orchestrator.inputs.config import load_config
from test_census import MESSY_HEADER, MESSY_ROWS, write_csv
from test_census_spreadsheet import census_rows, client_map, client_workbook
from test_cli_inputs import small_census, tree

CENSUS_DATE = date(load_config(None).start_year - 1, 12, 31)  # what a run of the default config stages against
MACROS = paths.SHIPPED_DBT / "macros" / "bands.sql"


# ------------------------------------------------------------------------------------------------ helpers


def macro_bands(text: str, macro: str) -> tuple[list[int], list[str]]:
    """(edges, labels) of one CASE macro of bands.sql: `WHEN x < 25 THEN '<25' ... ELSE '65+'`."""
    body = re.search(rf"macro {macro}\(.*?\)(.*?)endmacro", text, re.S).group(1)
    pairs = re.findall(r"<\s*(\d+)\s+THEN\s+'([^']+)'", body)
    return [int(edge) for edge, _ in pairs], [label for _, label in pairs] + re.findall(r"ELSE\s+'([^']+)'", body)


def band_problems(text: str) -> list[str]:
    """Where census_inspect's bands differ from the engine's macros (labels of pay: the macro's segment names)."""
    problems = []
    for (title, _, edges, labels), macro in zip(BANDS, ("age_band", "tenure_band", "income_segment")):
        engine_edges, engine_labels = macro_bands(text, macro)
        mine = list(labels) if macro != "income_segment" else [label.split(" (")[0] for label in labels]
        if (list(edges), mine) != (engine_edges, engine_labels):
            problems.append(f"{title}: {list(edges)} {mine} != {macro} {engine_edges} {engine_labels}")
    return problems


def completed_years(since: date, on: date) -> int:
    return on.year - since.year - ((on.month, on.day) < (since.month, since.day))


def band_of(value, edges: list[int], labels: list[str]) -> str:
    return next((label for edge, label in zip(edges, labels) if value < edge), labels[-1])


def recount(census: Path) -> dict:
    """The inspection's figures recomputed from the file's rows (a clean census: nothing dropped)."""
    columns, rows = census_rows(census)
    people = [dict(zip(columns, row)) for row in rows]
    active = [p for p in people if p["employee_termination_date"] is None and p["active"]]
    text = MACROS.read_text()
    measures = {"age": lambda p: completed_years(p["employee_birth_date"], CENSUS_DATE),
                "tenure (years)": lambda p: CENSUS_DATE.year - p["employee_hire_date"].year,  # simulation.md
                "pay": lambda p: p["employee_gross_compensation"]}
    counts = {}
    for (title, _, _, labels), macro in zip(BANDS, ("age_band", "tenure_band", "income_segment")):
        edges, engine_labels = macro_bands(text, macro)
        found = [band_of(measures[title](p), edges, engine_labels) for p in active]
        counts[title] = [(label, found.count(engine_label)) for label, engine_label in zip(labels, engine_labels)]
    rates = [Decimal(str(p["employee_deferral_rate"])) for p in active]
    whole = sorted({min(int(rate * 100), TOP_RATE) for rate in rates if rate > 0})
    counts["deferral rate"] = [("not deferring", sum(rate == 0 for rate in rates))] + [
        (f"{band} %+" if band == TOP_RATE else f"{band} %", sum(rate > 0 and min(int(rate * 100), TOP_RATE) == band
                                                              for rate in rates)) for band in whole]
    return {"rows": len(people), "active": len(active), "terminated": len(people) - len(active),
            "participants": sum(rate > 0 for rate in rates), "counts": counts}


def expected_line(title: str, counts: list[tuple[str, int]], active: int) -> str:
    return f"active people by {title}: " + ", ".join(f"{label} {n:,} ({100 * n / active:.1f} %)" for label, n in counts)


def inspect(capsys, *args) -> tuple[int, list[str], str]:
    code = run_cli(["census", "inspect", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, and whatever would leave the file (src, href, script)."""

    def __init__(self, page: str):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.outside: list[str] = []
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.outside += [f"{tag} {name}={value}" for name, value in attrs if name in ("src", "href")]
        self.outside += ["script"] if tag == "script" else []
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


# ------------------------------------------------------------------------------------------------ the bands


def test_the_bands_are_the_engines_own():
    assert band_problems(MACROS.read_text()) == []
    moved = MACROS.read_text().replace("< 45 THEN '35-44'", "< 46 THEN '35-44'")  # a macro edited, not the code
    assert band_problems(moved) == ["age: [25, 35, 45, 55, 65] ['<25', '25-34', '35-44', '45-54', '55-64', '65+'] != "
                                    "age_band [25, 35, 46, 55, 65] ['<25', '25-34', '35-44', '45-54', '55-64', '65+']"]


# ------------------------------------------------------------------------------------------------ the console


def test_inspect_counts_what_a_run_would_load(tmp_path, capsys):
    census = small_census(tmp_path, ".parquet")
    want = recount(census)
    code, lines, err = inspect(capsys, census)
    assert code == 0 and err == ""
    assert lines[0] == f"inspecting {census} as of {CENSUS_DATE}"
    assert lines[1] == (f"census: {want['rows']:,} rows read, {want['active']:,} active, {want['terminated']:,} "
                        f"already terminated, 0 duplicates dropped, 0 rejected")
    assert "  ignored extra columns: none" in lines
    assert "  vesting_service_years absent: completed years since hire" in lines
    for title in ("age", "tenure (years)", "pay"):
        assert expected_line(title, want["counts"][title], want["active"]) in lines
    assert sum(n for _, n in want["counts"]["age"]) == want["active"]
    assert lines[-2] == (f"participation: {want['participants']:,} of {want['active']:,} active people defer part "
                         f"of their pay ({100 * want['participants'] / want['active']:.1f} %)")
    assert lines[-1] == expected_line("deferral rate", want["counts"]["deferral rate"], want["active"])
    assert list(tmp_path.iterdir()) == [census]  # nothing written


def test_inspect_says_who_is_dropped_and_why_as_staging_does(tmp_path, capsys):
    census = write_csv(tmp_path / "messy.csv", MESSY_HEADER, MESSY_ROWS)
    code, lines, _ = inspect(capsys, census)
    assert code == 0
    with stage_census(census, CENSUS_DATE) as staged:
        staging = staged.report.summary_lines()
    assert lines[1:1 + len(staging)] == staging  # staging's own words, in its order
    assert lines[1] == "census: 24 rows read, 4 active, 2 already terminated, 3 duplicates dropped, 15 rejected"
    assert "  rejected 2 rows (missing employee_id): row 11, row 12" in lines
    assert "  dropped 3 duplicate rows (kept latest hire date, then highest pay): EMP_002, EMP_003" in lines
    assert "  ignored extra columns: department" in lines
    # the four active people kept: EMP_001 (0.06), EMP_002 (0.05), EMP_003 (0), EMP_016 (blank: 0)
    assert lines[-2] == "participation: 2 of 4 active people defer part of their pay (50.0 %)"
    assert lines[-1] == ("active people by deferral rate: not deferring 2 (50.0 %), 5 % 1 (25.0 %), "
                         "6 % 1 (25.0 %)")


def test_a_client_workbook_inspects_as_its_parquet_does(tmp_path, capsys):
    census = small_census(tmp_path, ".parquet")
    workbook = client_workbook(census, tmp_path / "client.xlsx", notes=True)
    mapping = client_map(tmp_path / "map.yaml")
    _, plain, _ = inspect(capsys, census)
    code, lines, _ = inspect(capsys, workbook, "--census-sheet", "Census", "--census-map", mapping)
    assert code == 0
    assert lines[0] == f"inspecting {workbook} (sheet 'Census', map {mapping}) as of {CENSUS_DATE}"
    assert "  ignored extra columns: Notes" in lines
    assert [line for line in lines[1:] if "ignored" not in line] == [line for line in plain[1:]
                                                                    if "ignored" not in line]


# ------------------------------------------------------------------------------------------------ the page


def test_html_page_holds_the_same_figures_and_nothing_from_outside(tmp_path, capsys):
    census = small_census(tmp_path, ".parquet")
    want = recount(census)
    page = tmp_path / "census.html"
    code, lines, _ = inspect(capsys, census, "--html", page)
    assert code == 0 and lines[-1] == f"wrote {page}"
    parsed = Tables(page.read_text(encoding="utf-8"))
    assert parsed.outside == []
    assert "<title>Census inspection: census_300.parquet</title>" in page.read_text(encoding="utf-8")
    rows, *distributions = parsed.tables  # no table of people dropped: nobody was
    assert rows == [["rows read", "staged", "active", "already terminated", "duplicates dropped", "rejected"],
                    [f"{want['rows']:,}", f"{want['rows']:,}", f"{want['active']:,}", f"{want['terminated']:,}",
                     "0", "0"]]
    titles = ["age", "tenure (years)", "pay", "deferral rate"]
    assert [table[0] for table in distributions] == [[title, "people", "share"] for title in titles]
    for title, table in zip(titles, distributions):
        assert table[1:] == [[label, f"{n:,}", f"{100 * n / want['active']:.1f} %"]
                             for label, n in want["counts"][title]], title
    assert "Nobody was dropped" in page.read_text(encoding="utf-8")


def test_html_page_lists_the_people_dropped(tmp_path, capsys):
    census = write_csv(tmp_path / "messy.csv", MESSY_HEADER, MESSY_ROWS)
    page = tmp_path / "census.html"
    assert inspect(capsys, census, "--html", page)[0] == 0
    dropped = Tables(page.read_text(encoding="utf-8")).tables[1]
    assert dropped[0] == ["why", "rows", "first ids (or data rows)"]
    assert ["missing employee_id", "2", "row 11, row 12"] in dropped
    assert ["non-positive employee_gross_compensation", "3", "EMP_006, EMP_007, EMP_001"] in dropped
    assert dropped[-1] == ["duplicate id (kept the latest hire date, then the highest pay)", "3", "EMP_002, EMP_003"]
    assert sum(int(row[1]) for row in dropped[1:]) == 15 + 3


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("make", "needles"), [
    pytest.param(lambda tmp_path: [tmp_path / "nowhere.csv"], ["nowhere.csv"], id="no-census"),
    pytest.param(lambda tmp_path: [write_csv(tmp_path / "gone.csv", MESSY_HEADER, [MESSY_ROWS[12], MESSY_ROWS[13]])],
                 ["gone.csv", "no active employees"], id="nobody-active"),
    pytest.param(lambda tmp_path: [client_workbook(small_census(tmp_path), tmp_path / "client.xlsx"), "--census-map",
                                   client_map(tmp_path / "map.yaml", columns={"employee_id": "Badge"})],
                 ["census map", "columns.employee_id", "header 'Badge' is not in", "client.xlsx, sheet 'Census'"],
                 id="mapped-header-missing"),
    pytest.param(lambda tmp_path: [small_census(tmp_path), "--census-sheet", "Census"],
                 ["--census-sheet 'Census'", "not an .xlsx"], id="sheet-of-a-csv"),
    pytest.param(lambda tmp_path: [small_census(tmp_path), "--html", tmp_path / "no_folder" / "census.html"],
                 ["--html", "no_folder", "does not exist"], id="html-folder-missing"),
    pytest.param(lambda tmp_path: [small_census(tmp_path), "--html", tmp_path], ["--html", "is a folder"],
                 id="html-is-a-folder"),
])
def test_bad_input_is_one_line_exit_2_and_no_page(tmp_path, capsys, make, needles):
    args = [str(arg) for arg in make(tmp_path)]
    html = [] if "--html" in args else ["--html", str(tmp_path / "census.html")]
    before = tree(tmp_path)
    code, lines, err = inspect(capsys, *args, *html)
    assert code == 2 and lines == [], lines
    assert len(err.splitlines()) == 1 and err.startswith("planwise: error: "), err
    for needle in needles:
        assert needle in err, err
    assert tree(tmp_path) == before  # no page, nothing else
