"""What each metric of a run's summary is (a count, money, a rate, a pass flag), its label, its section, and how it
is written as text: one vocabulary for the report and the workbook, so a number reads the same in both.

Formatting never recomputes: a summary's exact decimal string is formatted as it is (money to the cent, rates
as percent with the summary's own four decimals), an ensemble's DOUBLE to the cent.
"""

from __future__ import annotations

from decimal import Decimal

from ..inputs.config import SCHEMA_BY_KEY

COUNT, MONEY, PERCENT, FLAG = "count", "money", "percent", "flag"

#: The report's sections of a year's metrics, in the order they are read; a metric not listed goes to "Other".
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Headcount flow", ("start_headcount", "hire_events", "termination_events", "experienced_terminations",
                        "new_hire_terminations", "end_headcount", "continuous_active", "new_hire_active")),
    ("Pay", ("active_payroll", "prorated_payroll", "average_active_salary", "promotion_events", "raise_events")),
    ("Participation", ("participation_rate", "eligibility_events", "enrollment_events", "enrollment_change_events",
                       "deferral_escalation_events", "deferral_change_events")),
    ("Contributions and employer cost", ("employee_contributions", "employer_match", "true_up_cost", "employer_core",
                                         "employer_cost", "forfeitures", "forfeitures_used", "forfeiture_balance",
                                         "net_employer_cost")),
    ("Nondiscrimination", ("adp_passed", "adp_corrective_amount", "acp_passed", "acp_corrective_amount",
                           "corrective_forfeited_match")),
)

LABELS = {
    "start_headcount": "Headcount at start", "hire_events": "Hires", "termination_events": "Terminations",
    "experienced_terminations": "Experienced terminations", "new_hire_terminations": "New-hire terminations",
    "end_headcount": "Headcount at year end", "continuous_active": "Active all year (continuous)",
    "new_hire_active": "New hires active at year end", "active_payroll": "Active payroll (USD)",
    "prorated_payroll": "Payroll, prorated (USD)", "average_active_salary": "Average active salary (USD)",
    "promotion_events": "Promotions", "raise_events": "Raises", "participation_rate": "Participation (of active)",
    "eligibility_events": "Plan entries", "enrollment_events": "Enrollments",
    "enrollment_change_events": "Enrollment changes (opt-outs)", "deferral_escalation_events": "Deferral escalations",
    "deferral_change_events": "Deferral changes (match response)",
    "employee_contributions": "Employee contributions (USD)", "employer_match": "Employer match (USD)",
    "true_up_cost": "of which match true-up (USD)", "employer_core": "Employer core (USD)",
    "employer_cost": "Employer match + core (USD)", "forfeitures": "Forfeitures arising (USD)",
    "forfeitures_used": "Forfeitures used (USD)", "forfeiture_balance": "Forfeiture balance carried (USD)",
    "net_employer_cost": "Net employer cost (USD)", "adp_passed": "ADP test", "adp_corrective_amount":
    "ADP corrective amount (USD)", "acp_passed": "ACP test", "acp_corrective_amount": "ACP corrective amount (USD)",
    "corrective_forfeited_match": "Match forfeited by corrections (USD)",
}


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def meaning(key: str) -> str:
    """A config key's meaning, as the schema documents it."""
    return SCHEMA_BY_KEY[key].doc if key in SCHEMA_BY_KEY else ""


def kind(metric: str, is_count: bool) -> str:
    """A summary metric's kind: counts are integers there (BIGINT in runs.parquet), the rest exact decimals."""
    if metric.endswith("_passed"):
        return FLAG
    if is_count:
        return COUNT
    return PERCENT if metric.endswith("_rate") else MONEY


def sections(metrics: list[str]) -> list[tuple[str, list[str]]]:
    """SECTIONS restricted to `metrics`, plus "Other" for any metric no section names (none is left out)."""
    placed = [(title, [m for m in names if m in metrics]) for title, names in SECTIONS]
    listed = {m for _, names in SECTIONS for m in names}
    other = [m for m in metrics if m not in listed]
    return [(title, names) for title, names in [*placed, ("Other", other)] if names]


def text(value, metric_kind: str) -> str:
    """A metric value as the page shows it: counts with thousands separators, money to the cent, rates in percent,
    flags as passed/failed; None (not there) as a dash."""
    if value is None:
        return "-"
    if metric_kind == FLAG and isinstance(value, int):
        return "passed" if value else "failed"
    if metric_kind == PERCENT:
        return f"{_number(value) * 100:,.2f} %"
    if metric_kind == MONEY:
        return f"{_number(value):,.2f}"
    number = _number(value)
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


def _number(value) -> Decimal | float:
    """Exact decimal strings (a summary's) stay exact; DOUBLEs (an ensemble's bands) stay floats."""
    return Decimal(value) if isinstance(value, str) else value
