"""Per-year business metrics read back from the marts: the run's console lines, summary and baselines use these."""

from decimal import Decimal

import duckdb

EVENT_TYPES = ("hire", "termination", "promotion", "raise", "eligibility", "enrollment", "enrollment_change",
               "deferral_escalation", "deferral_change")
STATUS_CODES = ("continuous_active", "new_hire_active", "experienced_termination", "new_hire_termination")
COST_METRICS = ("forfeitures", "forfeitures_used", "forfeiture_balance", "net_employer_cost")  # fct_employer_cost
TESTS = ("ADP", "ACP")  # fct_nondiscrimination: passed (1, exempt included, or 0) and the corrective amount of each
_STATUS_NAMES = {"experienced_termination": "experienced_terminations", "new_hire_termination": "new_hire_terminations"}

_YEAR_METRICS = f"""
with snapshot as (select * from fct_workforce_snapshot where simulation_year = $year),
events as (select * from fct_yearly_events where simulation_year = $year),
tests as (select * from fct_nondiscrimination where simulation_year = $year)
select
    (select start_headcount from int_workforce_needs where simulation_year = $year) as start_headcount,
    (select count(*) from snapshot where employment_status = 'active') as end_headcount,
    {", ".join(f"(select count(*) from snapshot where detailed_status_code = '{code}') as {_STATUS_NAMES.get(code, code)}"
               for code in STATUS_CODES)},
    {", ".join(f"(select count(*) from events where event_type = '{kind}') as {kind}_events" for kind in EVENT_TYPES)},
    (select count(*) from events where event_category = 'voluntary_enrollment') as voluntary_enrollment_events,
    (select coalesce(sum(current_compensation), 0) from snapshot where employment_status = 'active') as active_payroll,
    (select coalesce(sum(prorated_annual_compensation), 0) from snapshot) as prorated_payroll,
    (select coalesce(avg(current_compensation), 0)::DECIMAL(14, 2) from snapshot where employment_status = 'active')
        as average_active_salary,
    (select coalesce(avg(is_enrolled_flag::INTEGER), 0)::DECIMAL(7, 4) from snapshot where employment_status = 'active')
        as participation_rate,
    (select coalesce(sum(employee_contribution), 0) from snapshot) as employee_contributions,
    (select coalesce(sum(employer_match_amount), 0) from snapshot) as employer_match,
    (select coalesce(sum(employer_core_amount), 0) from snapshot) as employer_core,
    (select coalesce(sum(employer_match_true_up), 0) from snapshot) as true_up_cost,
    {", ".join(f"(select coalesce(sum({name}), 0) from fct_employer_cost where simulation_year = $year) as {name}"
               for name in COST_METRICS)},
    {", ".join(f"(select count(*) from tests where test = '{test}' and passed) as {test.lower()}_passed, "
               f"(select coalesce(sum(corrective_amount), 0) from tests where test = '{test}') "
               f"as {test.lower()}_corrective_amount" for test in TESTS)},
    (select coalesce(sum(forfeited_match), 0) from tests) as corrective_forfeited_match
"""
_TEST_COLUMNS = ("test", "testing_method", "hce_count", "nhce_count", "hce_average", "nhce_average", "test_limit",
                 "passed", "margin", "exempt_reason", "corrective_amount", "forfeited_match")


def year_metrics(con: duckdb.DuckDBPyConnection, year: int) -> dict[str, int | str]:
    """Counts as ints and money/rates as exact decimal strings (JSON-safe, no float noise)."""
    cursor = con.execute(_YEAR_METRICS, {"year": int(year)})
    names = [column[0] for column in cursor.description]
    row = cursor.fetchone()
    return {name: (str(value) if isinstance(value, Decimal) else int(value or 0)) for name, value in zip(names, row)}


def year_tests(con: duckdb.DuckDBPyConnection, year: int) -> list[dict]:
    """The year's ADP and ACP results (fct_nondiscrimination) for the summary and the console: one dict per test,
    money and shares as exact decimal strings."""
    cursor = con.execute(f"select {', '.join(_TEST_COLUMNS)} from fct_nondiscrimination where simulation_year = ? "
                         "order by test desc", [int(year)])
    return [{name: (str(value) if isinstance(value, Decimal) else value) for name, value in zip(_TEST_COLUMNS, row)}
            for row in cursor.fetchall()]
