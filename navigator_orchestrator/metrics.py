"""Per-year business metrics read back from the marts: the run's console lines, summary and baselines use these."""

from decimal import Decimal

import duckdb

_YEAR_METRICS = """
with snapshot as (select * from fct_workforce_snapshot where simulation_year = $year),
events as (select * from fct_yearly_events where simulation_year = $year)
select
    (select start_headcount from int_workforce_needs where simulation_year = $year) as start_headcount,
    (select count(*) from snapshot where employment_status = 'active') as end_headcount,
    (select count(*) from snapshot where detailed_status_code = 'continuous_active') as continuous_active,
    (select count(*) from snapshot where detailed_status_code = 'new_hire_active') as new_hire_active,
    (select count(*) from snapshot where detailed_status_code = 'experienced_termination') as experienced_terminations,
    (select count(*) from snapshot where detailed_status_code = 'new_hire_termination') as new_hire_terminations,
    (select count(*) from events where event_type = 'hire') as hire_events,
    (select count(*) from events where event_type = 'termination') as termination_events,
    (select count(*) from events where event_type = 'promotion') as promotion_events,
    (select count(*) from events where event_type = 'raise') as raise_events,
    (select count(*) from events where event_type = 'enrollment') as enrollment_events,
    (select count(*) from events where event_type = 'enrollment_change') as enrollment_change_events,
    (select count(*) from events where event_type = 'deferral_escalation') as deferral_escalation_events,
    (select coalesce(sum(current_compensation), 0) from snapshot where employment_status = 'active') as active_payroll,
    (select coalesce(sum(prorated_annual_compensation), 0) from snapshot) as prorated_payroll,
    (select coalesce(avg(current_compensation), 0)::DECIMAL(14, 2) from snapshot where employment_status = 'active') as average_active_salary,
    (select coalesce(avg(is_enrolled_flag::INTEGER), 0)::DECIMAL(7, 4) from snapshot where employment_status = 'active') as participation_rate,
    (select coalesce(sum(employee_contribution), 0) from snapshot) as employee_contributions,
    (select coalesce(sum(employer_match_amount), 0) from snapshot) as employer_match,
    (select coalesce(sum(employer_core_amount), 0) from snapshot) as employer_core
"""


def year_metrics(con: duckdb.DuckDBPyConnection, year: int) -> dict[str, int | str]:
    """Counts as ints and money/rates as exact decimal strings (JSON-safe, no float noise)."""
    cursor = con.execute(_YEAR_METRICS, {"year": int(year)})
    names = [column[0] for column in cursor.description]
    row = cursor.fetchone()
    return {name: (str(value) if isinstance(value, Decimal) else int(value or 0)) for name, value in zip(names, row)}
