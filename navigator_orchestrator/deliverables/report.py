"""`planwise report`: one self-contained HTML page of a run (`--db`) or of an ensemble (`--ensemble`), to open
offline, print or e-mail.

A run's page: a failure and its fix first (when the run did not succeed), then the provenance (ids, digests,
versions, projected IRS years, quality gates), every metric of every year in sections (headcount flow, pay,
participation and the deferral-rate distribution, contributions and employer cost, nondiscrimination), the events
and the settings that differ from their defaults. An ensemble's page: every scenario's bands over the years, the
paired differences against the baseline with both widths, and the settings that differ between the scenarios.
Every figure is formatted from `run_record`'s values (`figures.text`); charts are `svg_charts`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from ..ensembles.charts import KEY_METRICS
from ..safety.atomic import write_atomically
from . import figures
from .output import checked_out
from .page import Markup, Numeric, document, escape, table
from .run_record import EnsembleRecord, RunRecord, band_label, read_ensemble, read_run
from .svg_charts import Series, bar_chart, line_chart

FLOW = ("start_headcount", "hire_events", "termination_events", "end_headcount")
COST = ("employer_match", "employer_core", "forfeitures_used", "net_employer_cost")
PAIRED_CHARTS = ("employer_cost", "net_employer_cost")
NOT_SUCCESS = {"failed": "This run failed", "interrupted": "This run was interrupted",
               "running": "This run has not finished (still running, or killed)"}


def write_run_report(db_path: Path, run_id: str | None, out: Path) -> Path:
    out = checked_out(out, "report.html")
    write_atomically(out, run_page(read_run(db_path, run_id)))
    return out


def write_ensemble_report(ensemble_dir: Path, out: Path) -> Path:
    out = checked_out(out, "report.html")
    write_atomically(out, ensemble_page(read_ensemble(ensemble_dir)))
    return out


# ------------------------------------------------------------------------------------------------ a run
def run_page(record: RunRecord) -> str:
    summary = record.summary
    years = [year["year"] for year in record.years]
    head = (f"<h1>Run report {escape(record.run_id)}</h1>"
            f'<p class="lead">PlanWise Navigator simulation of {summary["start_year"]}-{summary["end_year"]}, '
            f"seed {summary['seed']}, database <code>{escape(record.db_path)}</code>: "
            f'<span class="status-{escape(summary["status"])}">{escape(summary["status"])}</span></p>')
    parts = [_failure(record), _provenance(record), _quality(summary)]
    if years:
        parts += [_year_sections(record), _nondiscrimination(record), _events(record)]
    else:
        parts.append('<section id="years"><h2>Results by year</h2><p>The run completed no year: there are no '
                     "results to show.</p></section>")
    parts.append(_assumptions(record))
    return document(f"PlanWise run {record.run_id}", _with_contents(head, parts))


def _with_contents(head: str, sections: list[str]) -> str:
    """The heading, links to each section (by its id and h2), then the sections."""
    shown = [s for s in sections if s]
    links = [re.search(r'id="([^"]+)"><h2>(.*?)</h2>', s) for s in shown]
    nav = "".join(f'<a href="#{m.group(1)}">{m.group(2)}</a>' for m in links if m)
    return "\n".join([head, f'<nav class="contents">{nav}</nav>', *shown])


def _failure(record: RunRecord) -> str:
    summary = record.summary
    if summary["status"] == "success":
        return ""
    done = ", ".join(str(y["year"]) for y in record.years) or "none"
    rows = [[entry["error"].removesuffix(f" (fix: {entry['fix']})"), entry["fix"]]  # the error line names its fix
            for entry in summary.get("recovery", [])]
    listed = table(["what went wrong", "the fix"], rows) if rows else "<p>No error was recorded.</p>"
    return (f'<section class="alert" id="failure"><h2>{NOT_SUCCESS.get(summary["status"], summary["status"])}</h2>'
            f"<p>Years completed: {escape(done)} of {summary['start_year']}-{summary['end_year']} "
            f"(exit code {escape(summary.get('exit_code'))}). The figures below are those of the completed years."
            f"</p>{listed}</section>")


def _facts(pairs: list[tuple[str, object]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in pairs) + "</dl>"


def _provenance(record: RunRecord) -> str:
    summary, census = record.summary, record.summary.get("census", {})
    versions = ", ".join(f"{name} {version}" for name, version in summary.get("versions", {}).items())
    tables = ("this run's" if record.holds_tables else
              f"run {record.tables_run_id}'s (a later run replaced this run's tables: event counts and deferral "
              f"rates are left out)" if record.tables_run_id else "no run's (no run_metadata)")
    backup = summary.get("backup", {})
    facts = [
        ("run id", record.run_id), ("status", summary["status"]),
        ("years", f"{summary['start_year']}-{summary['end_year']}; completed: "
                  f"{', '.join(str(y['year']) for y in record.years) or 'none'}"
                  + (f" (proven by --resume: {', '.join(map(str, summary['years_skipped']))})"
                     if summary.get("years_skipped") else "")),
        ("seed", summary["seed"]), ("config digest", summary["config_digest"]),
        ("config file", record.config["source"] if record.config else "not recorded (no config.json)"),
        ("census", f"{census.get('path', '?')}: {census.get('rows_read', '?')} rows read, "
                   f"{census.get('active_rows', '?')} active"),
        ("census fingerprint", census.get("fingerprint", "?")),
        ("versions", versions),
        ("projected IRS limit years", ", ".join(map(str, summary.get("projected_irs_years", []))) or "none"),
    ]
    if summary.get("projected_wage_base_years"):
        facts.append(("projected wage base years", ", ".join(map(str, summary["projected_wage_base_years"]))))
    facts += [
        ("started, ended", f"{summary.get('started_at', '')} to {summary.get('ended_at') or '-'} "
                           f"({summary.get('duration_seconds', 0)} s)"),
        ("database", f"{record.db_path}; its tables hold {tables}"),
        ("backup before the run", backup.get("path") or backup.get("reason") or backup.get("status") or "-"),
        ("summary", summary.get("summary_path", "")), ("run log", summary.get("log_path", "")),
    ]
    return f'<section id="provenance"><h2>Provenance</h2>{_facts(facts)}</section>'


def _quality(summary: dict) -> str:
    quality = summary.get("quality", {})
    if not quality:
        return '<section id="quality"><h2>Quality gates</h2><p>No year was checked.</p></section>'
    years = sorted(quality, key=int)
    checks = list(dict.fromkeys(c["check"] for year in years for c in quality[year]))
    by = {(c["check"], year): c for year in years for c in quality[year]}

    def cell(check: str, year: str) -> Markup | str:
        found = by.get((check, year))
        if found is None:
            return "-"
        status = found["status"]
        css = "pass" if status == "pass" else "warn" if found["severity"] == "warn" and status == "fail" else "fail"
        words = status if status == "pass" else f"{status} ({found['severity']}, {found['failing_count']} rows)"
        return Markup(f'<span class="{css}" data-check="{escape(check)}" data-year="{escape(year)}">'
                      f"{escape(words)}</span>")

    grid = table(["check", *years], [[check, *(cell(check, y) for y in years)] for check in checks])
    problems = [[c["year"], c["check"], c["severity"], c["status"], c["failing_count"], c.get("detail", ""),
                 c.get("hint", "")] for year in years for c in quality[year] if c["status"] != "pass"]
    listed = (table(["year", "check", "severity", "status", "failing rows", "detail", "fix"], problems)
              if problems else "<p>Every check of every year passed.</p>")
    return f'<section id="quality"><h2>Quality gates</h2>{grid}{listed}</section>'


def _year_sections(record: RunRecord) -> str:
    years = [y["year"] for y in record.years]
    counts = record.count_metrics()
    charts = {
        "Headcount flow": lambda: bar_chart("headcount_flow", "Headcount flow by year", "Year", "Employees (people)",
                                            list(map(str, years)),
                                            [Series(figures.label(m), _floats(record, m)) for m in FLOW]),
        "Contributions and employer cost": lambda: bar_chart(
            "employer_cost", "Employer cost by year", "Year", "USD millions", list(map(str, years)),
            [Series(figures.label(m).replace(" (USD)", ""), [v / 1e6 for v in _floats(record, m)]) for m in COST],
            tick=lambda v: f"{v:,.1f}"),
    }
    parts = ['<section id="years"><h2>Results by year</h2>']
    for title, metrics in figures.sections(record.metrics):
        rows = [[figures.label(metric), *(Numeric(figures.text(y["metrics"].get(metric),
                                                               figures.kind(metric, metric in counts)),
                                                  metric=metric, year=y["year"]) for y in record.years)]
                for metric in metrics]
        grid = table(["", *map(str, years)], rows)
        parts.append(f"<h3>{escape(title)}</h3>" + (_side(grid, charts[title]()) if title in charts else grid))
        if title == "Participation":
            parts.append(_deferral_rates(record))
    parts.append("</section>")
    return "".join(parts)


def _floats(record: RunRecord, metric: str) -> list[float]:
    """A metric's values for drawing (a chart's position only; the tables show the exact figures)."""
    return [float(Decimal(str(y["metrics"][metric]))) for y in record.years]


def _side(*parts: str) -> str:
    """Tables and charts side by side while the page is wide enough, one under the other when not."""
    return f'<div class="side">{"".join(parts)}</div>'


def _deferral_rates(record: RunRecord) -> str:
    title = "<h3>Deferral rates of active employees at year end</h3>"
    if not record.holds_tables:
        return title + "<p>Not shown: the database's tables no longer hold this run's results.</p>"
    years = [y["year"] for y in record.years]
    bands = sorted({row["band"] for row in record.deferral_rates})
    counts = {(row["year"], row["band"]): row["employees"] for row in record.deferral_rates}
    rows = [[band_label(b), *(Numeric(f"{counts.get((y, b), 0):,}", band=band_label(b), year=y) for y in years)]
            for b in bands]
    chart = bar_chart("deferral_rates", "Deferral-rate distribution at year end", "Deferral rate (% of pay)",
                      "Active employees (people)", [band_label(b) for b in bands],
                      [Series(str(y), [counts.get((y, b), 0) for b in bands]) for y in years])
    return (title + '<p class="lead">Each band is a whole percent of pay (6 % = 6.0 to 6.9 %); enrolled people '
            "deferring 0 % count in the 0 % band.</p>" + _side(chart, table(["deferral rate", *map(str, years)], rows)))


def _nondiscrimination(record: RunRecord) -> str:
    rows = []
    for year in record.years:
        for test in year.get("nondiscrimination", []):
            result = ("exempt: " + test["exempt_reason"] if test["exempt_reason"]
                      else "passed" if test["passed"] else "FAILED")
            rows.append([year["year"], test["test"], test["testing_method"], test["hce_count"], test["nhce_count"],
                         *(Numeric(figures.text(test[k], figures.PERCENT)) for k in ("hce_average", "nhce_average",
                                                                                     "test_limit", "margin")),
                         Markup(f'<span class="{"fail" if result == "FAILED" else "pass"}">{escape(result)}</span>'),
                         *(Numeric(figures.text(test[k], figures.MONEY)) for k in ("corrective_amount",
                                                                                   "forfeited_match"))])
    if not rows:
        return ""
    return ('<section id="nondiscrimination"><h2>Nondiscrimination tests (ADP, ACP)</h2>'
            + table(["year", "test", "method", "HCEs", "non-HCEs", "HCE average", "non-HCE average", "limit",
                     "margin", "result", "corrective (USD)", "forfeited (USD)"], rows) + "</section>")


def _events(record: RunRecord) -> str:
    if not record.holds_tables:
        return ""
    years = [y["year"] for y in record.years]
    kinds = sorted({(row["event_type"], row["event_category"]) for row in record.events})
    counts = {(row["year"], row["event_type"], row["event_category"]): row["events"] for row in record.events}
    rows = [[kind, category, *(Numeric(f"{counts.get((y, kind, category), 0):,}") for y in years)]
            for kind, category in kinds]
    return ('<section id="events"><h2>Events by year</h2>'
            + table(["event type", "category", *map(str, years)], rows) + "</section>")


def _assumptions(record: RunRecord) -> str:
    heading = '<section id="assumptions"><h2>Key assumptions</h2>'
    if record.config is None:
        return heading + ("<p>Not recorded: the run's folder holds no config.json. The config digest above "
                          "identifies its settings.</p></section>")
    changed = record.changed_settings()
    rows = [[key, _setting(value), _setting(default), figures.meaning(key)]
            for key, value, default in changed]
    listed = (table(["setting", "this run", "default", "meaning"], rows) if rows
              else "<p>Every setting has its default value.</p>")
    return (heading + f'<p class="lead">The settings of {escape(record.config["source"])} that differ from their '
            f"defaults ({len(changed)} of {len(record.config['values'])}; the workbook lists them all).</p>"
            + listed + "</section>")


def _setting(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)


# ------------------------------------------------------------------------------------------------ an ensemble
def ensemble_page(record: EnsembleRecord) -> str:
    manifest = record.manifest
    head = (f"<h1>Ensemble report {escape(record.folder.name)}</h1>"
            f'<p class="lead">{len(record.scenarios)} scenarios x {len(manifest.get("seeds", []))} seeds, '
            f"{record.years[0]}-{record.years[-1]}, baseline {escape(manifest.get('baseline_scenario') or 'none')}: "
            f'<span class="status-{escape(manifest.get("status"))}">{escape(manifest.get("status"))}</span></p>')
    parts = [_ensemble_failure(manifest), _ensemble_provenance(record), _differences(record), _bands(record),
             _paired(record)]
    return document(f"PlanWise ensemble {record.folder.name}", _with_contents(head, parts))


def _ensemble_failure(manifest: dict) -> str:
    failed = manifest.get("runs", {}).get("failed", {})
    if manifest.get("status") == "complete" and not failed:
        return ""
    rows = [[key, error] for key, error in failed.items()]
    return ('<section class="alert" id="failure"><h2>Not every run of this ensemble succeeded</h2>'
            f"<p>Status {escape(manifest.get('status'))}; the bands below are over the runs that succeeded. The fix: "
            "correct the cause named below, then run the same <code>planwise ensemble</code> command with "
            "<code>--resume</code> (the runs that succeeded are kept).</p>"
            + (table(["run", "error"], rows) if rows else "") + "</section>")


def _ensemble_provenance(record: EnsembleRecord) -> str:
    manifest = record.manifest
    runs = manifest.get("runs", {})
    facts = [
        ("folder", record.folder), ("status", manifest.get("status")),
        ("created, finished", f"{manifest.get('created_at', '?')} to {manifest.get('finished_at', '-')}"),
        ("years", f"{record.years[0]}-{record.years[-1]}"), ("seeds", ", ".join(map(str, manifest.get("seeds", [])))),
        ("runs", f"{runs.get('succeeded', '?')} of {runs.get('planned', '?')} succeeded, "
                 f"{len(runs.get('resumed', []))} resumed, {len(runs.get('failed', {}))} failed"),
        ("base config", f"{manifest.get('base_config', {}).get('path')} "
                        f"(digest {manifest.get('base_config', {}).get('config_digest')})"),
        ("census", manifest.get("census", {}).get("path")),
        ("census fingerprint", manifest.get("census", {}).get("fingerprint")),
        ("executor", manifest.get("executor", {}).get("scheduler")),
        ("versions", ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())),
    ]
    scenarios = [[s["name"], s["file"], s["config_digest"],
                  "; ".join(f"{k} = {_setting(v)}" for k, v in s.get("overrides", {}).items()) or "none"]
                 for s in manifest.get("scenarios", [])]
    return ('<section id="provenance"><h2>Provenance</h2>' + _facts(facts)
            + table(["scenario", "file", "config digest (seed left out)", "overrides of the base config"], scenarios)
            + "</section>")


def _differences(record: EnsembleRecord) -> str:
    heading = '<section id="differences"><h2>What differs between the scenarios</h2>'
    differences = record.manifest.get("scenario_differences")
    if differences is None:
        return heading + "<p>Not recorded in manifest.json: see each scenario's overrides above.</p></section>"
    if not differences:
        return heading + "<p>The scenarios have the same settings.</p></section>"
    names = list(next(iter(differences.values())))
    rows = [[key, *(_setting(values[name]) for name in names), figures.meaning(key)]
            for key, values in differences.items()]
    return heading + table(["setting", *names, "meaning"], rows) + "</section>"


def _bands(record: EnsembleRecord) -> str:
    parts = ['<section id="bands"><h2>Bands over the seeds</h2><p class="lead">Per scenario and year: the median '
             "(p50) over the seeds and the p5-p95 band (DuckDB's quantile_cont).</p>"]
    for metric, (title, unit, scale) in KEY_METRICS.items():
        if not any(row["metric"] == metric for row in record.bands):
            continue
        series = []
        for scenario in record.scenarios:
            rows = [record.band(scenario, metric, year) for year in record.years]
            series.append(Series(scenario, *([_scaled(r, stat, scale) for r in rows] for stat in ("p50", "p5", "p95"))))
        chart = line_chart(f"band_{metric}", title, "Year", unit, record.years, series)
        metric_kind = figures.kind(metric, metric in record.count_metrics)
        rows = [[scenario, year, *(Numeric(figures.text(band[stat], metric_kind), scenario=scenario, metric=metric,
                                           year=year, stat=stat) for stat in ("p5", "p50", "p95")), band["n"]]
                for scenario in record.scenarios for year in record.years
                if (band := record.band(scenario, metric, year)) is not None]
        parts.append(f"<h3>{escape(title)}</h3>"
                     + _side(chart, table(["scenario", "year", "p5", "median", "p95", "seeds"], rows)))
    return "".join(parts) + "</section>"


def _paired(record: EnsembleRecord) -> str:
    if not record.paired:
        return ""
    baseline = record.paired[0]["baseline"]
    others = list(dict.fromkeys(row["scenario"] for row in record.paired))
    parts = [f'<section id="paired"><h2>Paired differences against {escape(baseline)}</h2><p class="lead">Per seed '
             f"and year, scenario minus {escape(baseline)} of the same seed: its median and p5-p95 band (paired), "
             "and the band of differences between different seeds (unpaired), with both widths.</p>"]
    stats = ("p5", "p50", "p95", "paired_width", "unpaired_p5", "unpaired_p50", "unpaired_p95", "unpaired_width")
    for metric, (title, unit, scale) in KEY_METRICS.items():
        metric_kind = figures.kind(metric, metric in record.count_metrics)
        rows = [[scenario, year, *(Numeric(figures.text(row[stat], metric_kind), scenario=scenario, metric=metric,
                                           year=year, stat=stat) for stat in stats)]
                for scenario in others for year in record.years
                if (row := record.pairing(scenario, metric, year)) is not None]
        if not rows:
            continue
        grid = table(["scenario", "year", "paired p5", "paired median", "paired p95", "paired width", "unpaired p5",
                      "unpaired median", "unpaired p95", "unpaired width"], rows)
        if metric in PAIRED_CHARTS:
            series = []
            for scenario in others:
                found = [record.pairing(scenario, metric, year) for year in record.years]
                series.append(Series(f"{scenario}: unpaired p5-p95", [None] * len(found),
                                     [_scaled(r, "unpaired_p5", scale) for r in found],
                                     [_scaled(r, "unpaired_p95", scale) for r in found], color="#9aa5b1"))
                series.append(Series(f"{scenario}: paired median, p5-p95",
                                     *([_scaled(r, stat, scale) for r in found] for stat in ("p50", "p5", "p95"))))
            grid = _side(line_chart(f"paired_{metric}", f"{title}: minus {baseline}", "Year", unit, record.years,
                                    series), grid)
        parts.append(f"<h3>{escape(title)}</h3>{grid}")
    return "".join(parts) + "</section>"


def _scaled(row: dict | None, stat: str, scale: float) -> float | None:
    return None if row is None or row[stat] is None else row[stat] / scale
