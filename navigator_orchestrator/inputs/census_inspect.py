"""`planwise census inspect`: what the engine will make of a census file, before any run.

Everything is staging's own: `stage_census` reads the file as a run would (its sheet, its map) and decides who is
dropped and why; the figures are counts over the staged rows a run would load. The active people are banded as
the engine bands them (dbt/macros/bands.sql: the age and tenure bands its hazards are keyed by, the pay segments
of its deferral choices), their deferral rates by whole percent, as `planwise report` shows a run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .census import CensusReport, stage_census

#: (title, a person's value as SQL over table `staged` ({cd}: the census date), band edges, band labels); age and
#: tenure as the engine counts them on the census date (simulation.md, People): completed years of age, and the
#: census year less the hire year
BANDS = (
    ("age", "date_sub('year', employee_birth_date, {cd})", (25, 35, 45, 55, 65),
     ("<25", "25-34", "35-44", "45-54", "55-64", "65+")),
    ("tenure (years)", "year({cd}) - year(employee_hire_date)", (2, 5, 10, 20),
     ("<2", "2-4", "5-9", "10-19", "20+")),
    ("pay", "employee_gross_compensation", (50_000, 100_000, 200_000),
     ("low (under $50k)", "moderate ($50k-100k)", "high ($100k-200k)", "executive ($200k+)")),
)
TOP_RATE = 15  # deferral rates of 15 % of pay and more share one band, as in the report
NOT_DEFERRING = "not deferring"


@dataclass(frozen=True)
class Distribution:
    """Active people per band, in band order."""

    title: str
    counts: list[tuple[str, int]]


@dataclass(frozen=True)
class CensusInspection:
    """Staging's report on the file, and the active people it leaves, banded."""

    report: CensusReport
    census_date: date
    bands: list[Distribution]  # age, tenure, pay
    participants: int  # active people deferring more than 0 %
    deferral_rates: Distribution

    def lines(self) -> list[str]:
        """The console's lines: what was read, staging's own lines, then one line per distribution."""
        report, active = self.report, self.report.active_rows
        read = ", ".join(part for part in (f"sheet {report.sheet!r}" if report.sheet else "",
                                           f"map {report.census_map}" if report.census_map else "") if part)
        lines = [f"inspecting {report.path}{f' ({read})' if read else ''} as of {self.census_date}"]
        lines += report.summary_lines()
        if not report.extra_columns:
            lines.append("  ignored extra columns: none")
        lines += [self._line(d) for d in self.bands]
        lines.append(f"participation: {self.participants:,} of {active:,} active people defer part of their pay "
                     f"({share(self.participants, active)})")
        return lines + [self._line(self.deferral_rates)]

    def _line(self, distribution: Distribution) -> str:
        counts = ", ".join(f"{label} {n:,} ({share(n, self.report.active_rows)})" for label, n in distribution.counts)
        return f"active people by {distribution.title}: {counts}"


def inspect_census(path: Path, census_date: date, sheet: str | None = None,
                   census_map: Path | None = None) -> CensusInspection:
    """Stage the census as a run would (raising the CensusError a run would) and count its active people."""
    with stage_census(Path(path), census_date, sheet, census_map) as staged:
        cd = f"DATE '{census_date.isoformat()}'"
        bands = [Distribution(title, _banded(staged.con, value.format(cd=cd), edges, labels))
                 for title, value, edges, labels in BANDS]
        rates = staged.con.execute(f"""
            SELECT CASE WHEN employee_deferral_rate = 0 THEN -1
                        ELSE least(floor(employee_deferral_rate * 100), {TOP_RATE})::INTEGER END AS band, count(*)
            FROM staged WHERE active GROUP BY band ORDER BY band""").fetchall()
        participants = sum(n for band, n in rates if band >= 0)
        return CensusInspection(staged.report, census_date, bands, participants,
                                Distribution("deferral rate", [(_rate_label(band), n) for band, n in rates]))


def _banded(con, value: str, edges: tuple[int, ...], labels: tuple[str, ...]) -> list[tuple[str, int]]:
    """Active people per band of `value` (lower edge included), every band listed, empty ones as 0."""
    case = " ".join(f"WHEN {value} < {edge} THEN {index}" for index, edge in enumerate(edges))
    found = dict(con.execute(f"SELECT CASE {case} ELSE {len(edges)} END AS band, count(*) FROM staged WHERE active "
                             f"GROUP BY band").fetchall())
    return [(label, found.get(index, 0)) for index, label in enumerate(labels)]


def _rate_label(band: int) -> str:
    if band < 0:
        return NOT_DEFERRING
    return f"{band} %+" if band >= TOP_RATE else f"{band} %"


def share(part: int, whole: int) -> str:
    """`part` as a percent of `whole`, one decimal ("-" of nobody)."""
    return f"{100 * part / whole:.1f} %" if whole else "-"
