"""`planwise census inspect --html FILE`: the inspection of a census as one self-contained page in the shell of
`planwise report` (page.py), to send back to the client with the questions it raises: who was dropped and why,
which columns are ignored, and how the active people spread over age, tenure, pay and deferral rates."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..inputs.census_inspect import CensusInspection, Distribution, share
from ..safety.atomic import write_atomically
from .output import checked_out
from .page import Numeric, document, escape, table


def checked_html(out: Path) -> Path:
    """`--html FILE` checked as a deliverable's `--out` is (output.py), before the census is read; the messages
    name --html."""
    try:
        return checked_out(out, "census.html")
    except InputError as error:
        raise InputError(error.message.replace("--out", "--html"), (error.hint or "").replace("--out", "--html")
                         ) from None


def write_census_page(inspection: CensusInspection, out: Path) -> Path:
    """Write the page to `out`, replacing it whole."""
    out = checked_html(out)
    write_atomically(out, census_page(inspection))
    return out


def census_page(inspection: CensusInspection) -> str:
    report = inspection.report
    read = "".join(part for part in (f", sheet <code>{escape(report.sheet)}</code>" if report.sheet else "",
                                     f", through the map <code>{escape(report.census_map)}</code>"
                                     if report.census_map else ""))
    head = (f"<h1>Census inspection: {escape(Path(report.path).name)}</h1>"
            f'<p class="lead">What a PlanWise Navigator run will make of <code>{escape(report.path)}</code>{read}, '
            f"as of {inspection.census_date}: its staging, before any simulation.</p>")
    counts = table(["rows read", "staged", "active", "already terminated", "duplicates dropped", "rejected"],
                   [[_count(n) for n in (report.rows_read, report.rows_staged, report.active_rows,
                                         report.terminated_rows, report.duplicates_dropped,
                                         sum(report.rejected.values()))]])
    parts = [head, f"<section><h2>Rows</h2>{counts}</section>", _dropped(inspection), _columns(inspection),
             _active(inspection)]
    return document(f"Census inspection: {Path(report.path).name}", "\n".join(parts))


def _dropped(inspection: CensusInspection) -> str:
    report = inspection.report
    rows = [[reason, _count(n), ", ".join(report.samples.get(reason, []))] for reason, n in report.rejected.items()]
    if report.duplicates_dropped:
        rows.append(["duplicate id (kept the latest hire date, then the highest pay)",
                     _count(report.duplicates_dropped), ", ".join(report.duplicate_ids)])
    body = (table(["why", "rows", "first ids (or data rows)"], rows) if rows
            else "<p>Nobody was dropped: every row is staged.</p>")
    return f"<section><h2>People dropped, and why</h2>{body}</section>"


def _columns(inspection: CensusInspection) -> str:
    report = inspection.report
    ignored = ", ".join(f"<code>{escape(name)}</code>" for name in report.extra_columns) or "none"
    absent = "".join(f"<li>{escape(line)}</li>" for line in report.absent_lines())
    return (f"<section><h2>Columns</h2><p>Ignored by the engine (not census columns): {ignored}.</p>"
            f"{f'<p>Optional columns absent:</p><ul>{absent}</ul>' if absent else ''}</section>")


def _active(inspection: CensusInspection) -> str:
    active = inspection.report.active_rows
    parts = [f"<h3>By {escape(d.title)}</h3>{_distribution(d, active)}" for d in inspection.bands]
    parts.append(f"<h3>Participation</h3><p>{inspection.participants:,} of {active:,} active people defer part of "
                 f"their pay ({share(inspection.participants, active)}).</p>")
    parts.append(f"<h3>By deferral rate</h3>{_distribution(inspection.deferral_rates, active)}")
    return f"<section><h2>The {active:,} active people</h2>{''.join(parts)}</section>"


def _distribution(distribution: Distribution, active: int) -> str:
    return table([distribution.title, "people", "share"],
                 [[label, _count(n), Numeric(share(n, active))] for label, n in distribution.counts])


def _count(n: int) -> Numeric:
    return Numeric(f"{n:,}")
