"""`planwise report`: the run page and the ensemble page, opened in a real headless Chromium with the network
blocked (marker `browser`): nothing leaves the file, no console error, every chart drawn with its series and
axis labels, and the figures shown for 2027 equal summary.json's (a run), bands.parquet's and paired.parquet's
(an ensemble) and the deferral rates a query of the test's own; a failed run's page leads with its error and
fix; bad input is one line, exit 2, nothing written. Each check is also shown to catch a broken page.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.cli import run_cli
from navigator_orchestrator.ensembles.charts import KEY_METRICS
from pytest_planwise.runs import census_file
from support.browser import chart_problems, opened
from support.commands import copy_dbt_project
from support.deliverables import ensemble, run  # noqa: F401 (fixtures)
from support.deliverables import YEAR, summary_file, year_metrics

RUN_CHARTS = {
    "headcount_flow": ["Headcount at start", "Hires", "Terminations", "Headcount at year end"],
    "employer_cost": ["Employer match", "Employer core", "Forfeitures used", "Net employer cost"],
    "deferral_rates": ["2025", "2026", "2027"],
}


def report(args: list, out: Path, capsys) -> Path:
    assert run_cli(["report", *map(str, args), "--out", str(out)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    return out


def shown(text: str) -> Decimal | int | None:
    """A figure as the page shows it, as a number: "1,234.56", "85.05 %" (a share), "passed"/"failed", "-"."""
    if text in ("passed", "failed"):
        return int(text == "passed")
    if text == "-":
        return None
    if text.endswith(" %"):
        return Decimal(text[:-2].replace(",", "")) / 100
    return Decimal(text.replace(",", ""))


def run_figure_problems(cells: list[dict], metrics: dict) -> list[str]:
    """Every summary metric of the year shown once, equal to summary.json's value."""
    found = {cell["metric"]: cell["text"] for cell in cells}
    problems = [f"{name}: not shown" for name in metrics if name not in found]
    problems += [f"{name}: shown but not in the summary" for name in found if name not in metrics]
    problems += [f"{name}: shown {found[name]}, summary.json {value}" for name, value in metrics.items()
                 if name in found and shown(found[name]) != Decimal(str(value))]
    return problems


def deferral_bands(run, year: int) -> dict[str, int]:
    """Active employees at year end by whole percent of deferral (15 % and over together), from the snapshot."""
    counted: dict[str, int] = {}
    for enrolled, rate in run.query("select is_enrolled_flag, current_deferral_rate from fct_workforce_snapshot "
                                    "where simulation_year = ? and employment_status = 'active'", [year]):
        points = int(rate * 100)
        label = "not enrolled" if not enrolled else "15 %+" if points >= 15 else f"{points} %"
        counted[label] = counted.get(label, 0) + 1
    return counted


# ------------------------------------------------------------------------------------------------ a run
@pytest.mark.browser
def test_the_run_report_is_self_contained_charted_and_shows_the_summarys_figures(run, tmp_path, capsys):
    summary = summary_file(run)
    page = report(["--db", run.db_path, "--run-id", summary["run_id"]], tmp_path / "report.html", capsys)
    metrics = year_metrics(summary, YEAR)
    with opened(page) as visit:
        assert visit.problems() == []
        assert chart_problems(visit.charts(), RUN_CHARTS) == []
        figures = visit.cells(f'#years td[data-year="{YEAR}"][data-metric]')
        assert run_figure_problems(figures, metrics) == []
        rates = {cell["band"]: int(cell["text"].replace(",", "")) for cell in visit.cells(
            f'td[data-year="{YEAR}"][data-band]')}
        assert {band: n for band, n in rates.items() if n} == deferral_bands(run, YEAR)  # 0: a band of another year
        sections = visit.page.evaluate("[...document.querySelectorAll('body > section')].map(s => s.id)")
        assert sections == ["provenance", "quality", "years", "nondiscrimination", "events", "assumptions"]
        assert visit.page.evaluate("document.documentElement.scrollWidth") <= 1366  # a laptop, no sideways scroll
        provenance = visit.page.inner_text("#provenance")
        assumptions = visit.page.inner_text("#assumptions")
        visit.page.emulate_media(media="print")
        assert visit.page.pdf()[:5] == b"%PDF-"
    for value in (summary["run_id"], summary["config_digest"], summary["census"]["fingerprint"],
                  summary["versions"]["dbt-core"], "projected IRS limit years\n2027"):
        assert str(value) in provenance
    assert re.search(r"employer_match\.rate\t0\.75\t0\.5\t", assumptions)
    assert re.search(r"simulation\.end_year\t2027\t2029\t", assumptions)
    assert "(2 of " in assumptions  # only the settings that differ from their defaults


@pytest.mark.browser
def test_the_browser_checks_catch_a_page_that_reaches_out_errs_lacks_a_series_or_shows_another_figure(
        run, tmp_path, capsys):
    page = report(["--db", run.db_path], tmp_path / "report.html", capsys)
    text = page.read_text()
    series = '<g class="series" data-series="Hires">'
    assert series in text
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace(series, '<g class="series" data-series="Hirings">').replace(
        "</body>", '<img src="http://192.0.2.1/logo.png"><script>console.error("planted")</script></body>'))
    with opened(broken) as visit:
        assert set(visit.problems()) == {"request left the file: http://192.0.2.1/logo.png", "console error: planted",
                                         "console error: Failed to load resource: net::ERR_FAILED"}  # the refusal
        assert chart_problems(visit.charts(), RUN_CHARTS) == [
            "chart headcount_flow: series ['Headcount at start', 'Headcount at year end', 'Hirings', 'Terminations'], "
            "expected ['Headcount at start', 'Headcount at year end', 'Hires', 'Terminations']"]
        figures = visit.cells(f'#years td[data-year="{YEAR}"][data-metric]')
    metrics = dict(year_metrics(summary_file(run), YEAR))
    metrics["employer_match"] = str(Decimal(metrics["employer_match"]) + Decimal("0.01"))
    assert [p.split(":")[0] for p in run_figure_problems(figures, metrics)] == ["employer_match"]


@pytest.mark.browser
def test_a_failed_runs_report_leads_with_the_failure_and_its_fix(planwise_root, tmp_path, capsys):
    """A run whose 2026 model breaks: the page still renders, the error and the fix of summary.json first."""
    project = copy_dbt_project(tmp_path)
    model = project / "models" / "intermediate" / "int_merit_events.sql"
    model.write_text(model.read_text() + "\n{% if sim_year() | int == 2026 %}where no_such_column > 0{% endif %}\n")
    db = tmp_path / "sim.duckdb"
    assert run_cli(["run", "--years", "2025-2026", "--census", str(census_file(planwise_root, 300, 42)), "--db",
                    str(db), "--threads", "1", "--dbt-project", str(project)]) == 1
    capsys.readouterr()
    (summary_path,) = (tmp_path / "artifacts" / "runs").glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "failed" and [y["year"] for y in summary["years"]] == [2025]
    page = report(["--db", db], tmp_path / "report.html", capsys)
    with opened(page) as visit:
        assert visit.problems() == []
        first = visit.page.evaluate("document.querySelector('body > section').id")
        failure = visit.page.inner_text("#failure")
        years = [cell["year"] for cell in visit.cells('#years td[data-metric="end_headcount"]')]
    assert first == "failure"
    assert failure.startswith("This run failed") and "Years completed: 2025 of 2025-2026" in failure
    (entry,) = summary["recovery"]
    assert "no_such_column" in entry["error"] and entry["fix"] in failure
    assert entry["error"].split(" (fix: ")[0].split("LINE")[0].strip() in failure.replace("\n", " ")
    assert years == ["2025"]


# ------------------------------------------------------------------------------------------------ an ensemble
def parquet_rows(path: Path) -> list[dict]:
    with duckdb.connect() as con:
        cursor = con.execute("select * from read_parquet(?)", [str(path)])
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def ensemble_figure_problems(cells: list[dict], rows: list[dict]) -> list[str]:
    """Each figure shown equals its row's value as shown (to the cent; a share to 0.01 %)."""
    by = {(r["scenario"], r["metric"], str(r["year"])): r for r in rows}
    problems = []
    for cell in cells:
        row = by.get((cell["scenario"], cell["metric"], cell["year"]))
        value = None if row is None else row[cell["stat"]]
        figure = shown(cell["text"])
        tolerance = Decimal("0.00005") if cell["text"].endswith(" %") else Decimal("0.005")
        if value is None or figure is None:
            if value is not figure:
                problems.append(f"{cell}: the file has {value}")
        elif abs(figure - Decimal(repr(value))) > tolerance:
            problems.append(f"{cell}: the file has {value}")
    return problems


@pytest.mark.browser
def test_the_ensemble_report_is_self_contained_charted_and_shows_the_bands_and_paired_differences(
        ensemble, tmp_path, capsys):
    page = report(["--ensemble", ensemble.out], tmp_path / "ensemble.html", capsys)
    bands, paired = parquet_rows(ensemble.out / "bands.parquet"), parquet_rows(ensemble.out / "paired.parquet")
    expected = {f"band_{metric}": ["default", "rich_match"] for metric in KEY_METRICS}
    expected.update({f"paired_{metric}": ["rich_match: unpaired p5-p95", "rich_match: paired median, p5-p95"]
                     for metric in ("employer_cost", "net_employer_cost")})
    with opened(page) as visit:
        assert visit.problems() == []
        assert chart_problems(visit.charts(), expected) == []
        band_cells = visit.cells(f'#bands td[data-year="{YEAR}"][data-stat]')
        paired_cells = visit.cells(f'#paired td[data-year="{YEAR}"][data-stat]')
        differences = visit.page.inner_text("#differences")
        assert visit.page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert len(band_cells) == len(KEY_METRICS) * 2 * 3  # every key metric, both scenarios, p5 p50 p95
    assert len(paired_cells) == len(KEY_METRICS) * 8  # rich_match: paired and unpaired p5 p50 p95 and widths
    assert {c["stat"] for c in paired_cells} >= {"paired_width", "unpaired_width"}
    assert ensemble_figure_problems(band_cells, bands) == []
    assert ensemble_figure_problems(paired_cells, paired) == []
    assert re.search(r"employer_match\.rate\t0\.5\t1\.0\t", differences)
    assert re.search(r"match_response\.enabled\tfalse\ttrue\t", differences)
    wrong = [dict(row, p50=row["p50"] + 1) if row["metric"] == "employer_cost" else row for row in bands]
    assert {p.split("'stat': ")[1][:5] for p in ensemble_figure_problems(band_cells, wrong)} == {"'p50'"}


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_input_is_one_line_exit_2_and_nothing_written(run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "report.html"
    cases = {
        ("--db", tmp_path / "none.duckdb"): "no database at ",
        ("--db", run.db_path, "--run-id", "20000101_000000-00000000"): "--run-id 20000101_000000-00000000: no such run",
        ("--ensemble", empty): "no manifest.json there, so no ensemble results",
        ("--ensemble", empty, "--db", run.db_path): "--ensemble names an ensemble, --db and --run-id a run",
    }
    for args, message in cases.items():
        assert run_cli(["report", *map(str, args), "--out", str(out)]) == 2, args
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("planwise: error: ") and message in lines[0], lines
        assert "(fix: " in lines[0]
        assert not out.exists()
    assert run_cli(["report", "--db", str(run.db_path), "--out", str(tmp_path / "missing" / "r.html")]) == 2
    assert "folder" in capsys.readouterr().err and not (tmp_path / "missing").exists()
