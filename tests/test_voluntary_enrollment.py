"""Voluntary enrollment (docs/simulation.md "Voluntary enrollment") on the default census, through the real models:
non-participants enroll on their own at the documented chances, dates and rates, opted-out people come back after
`years_after_opt_out` years, the contributions follow, and the recomputing invariant catches a corrupted copy.
"""

import dataclasses
import math
from decimal import Decimal

import duckdb
import pytest

from pytest_planwise import invariants as inv

VOLUNTARY = {"voluntary_enrollment.enabled": True, "voluntary_enrollment.years_after_opt_out": 1,
             "voluntary_enrollment.match_magnet": 0.4}
AGE_RATES = {"young": Decimal("0.10"), "mid_career": Decimal("0.15"), "mature": Decimal("0.15"),
             "senior": Decimal("0.10")}  # the documented defaults, written here by hand
PAY_MULTIPLIERS = {"low": Decimal("0.6"), "moderate": Decimal("1.0"), "high": Decimal("1.3"),
                   "executive": Decimal("1.5")}


@pytest.fixture(scope="module")
def runs(planwise_run):
    """The same seed without and with voluntary enrollment: the workforce draws are the same in both."""
    still = planwise_run(years="2025-2027")
    joined = planwise_run(years="2025-2027", overrides=VOLUNTARY)
    assert still.status == "success", still.stderr
    assert joined.status == "success", joined.stderr
    return still, joined


def test_every_invariant_holds_with_voluntary_enrollment_and_returns_after_an_opt_out(runs):
    _, joined = runs
    assert inv.check_invariants(joined, "voluntary enrollment") == []
    per_year = dict(joined.query("select simulation_year, count(*) from fct_yearly_events "
                                 "where event_category = 'voluntary_enrollment' group by all"))
    assert set(per_year) == {2025, 2026, 2027} and min(per_year.values()) > 50, per_year
    assert {year: joined.years[year]["voluntary_enrollment_events"] for year in per_year} == per_year
    (returns,) = joined.query("""
        select count(*) from fct_yearly_events o join fct_yearly_events v using (employee_id)
        where o.event_type = 'enrollment_change' and v.event_category = 'voluntary_enrollment'
          and v.simulation_year > o.simulation_year""")[0]
    assert returns > 0  # opted out in one year, enrolled again on their own in a later one


def test_the_first_years_enrollees_are_the_drawn_share_of_the_census_non_participants(runs):
    """The census people not deferring (no auto-enrollment reaches them: scope new_hires_only) enroll with chance
    age rate x pay multiplier: the count is within 4 standard deviations of the sum of those chances."""
    _, joined = runs
    people = joined.query("""
        select c.employee_id, s.current_age, c.employee_gross_compensation, v.employee_id is not null
        from raw_census c
        join fct_workforce_snapshot s on s.employee_id = c.employee_id and s.simulation_year = 2025
        left join fct_yearly_events v on v.employee_id = c.employee_id and v.simulation_year = 2025
             and v.event_category = 'voluntary_enrollment'
        where c.employee_deferral_rate = 0""")
    chances = [AGE_RATES[inv._age_segment(age)] * PAY_MULTIPLIERS[inv._income_segment(pay)]
               for _, age, pay, _ in people]
    enrolled = sum(1 for *_, joined_plan in people if joined_plan)
    mean = float(sum(chances))
    spread = math.sqrt(sum(float(p * (1 - p)) for p in chances))
    assert len(people) > 300 and abs(enrolled - mean) <= 4 * spread, (enrolled, mean, spread)


def test_the_enrollees_defer_from_their_day_and_nobody_else_changes_in_the_first_year(runs):
    still, joined = runs
    enrollees = {emp: (day, rate) for emp, day, rate in joined.query(
        "select employee_id, effective_date, employee_deferral_rate from fct_yearly_events "
        "where event_category = 'voluntary_enrollment' and simulation_year = 2025")}
    before, after = ({emp: (deferral, status) for emp, deferral, status in run.query(
        "select employee_id, employee_contribution, employment_status from fct_workforce_snapshot "
        "where simulation_year = 2025")} for run in runs)
    assert before.keys() == after.keys()
    assert {emp for emp in before if before[emp] != after[emp]} <= set(enrollees)
    # an enrollee still employed on Dec 31 defers their rate on the pay from their day on: more than nothing
    staying = [emp for emp in enrollees if after[emp][1] == "active"]
    assert staying and all(after[emp][0] > before[emp][0] == 0 for emp in staying)
    rates = sorted({rate for _, rate in enrollees.values()})
    assert Decimal("0.06") in rates and len(rates) >= 5, rates  # the match's 6 % and the seeded spread
    totals = [run.query("select sum(employee_contribution), sum(employer_match_amount), "
                        "avg(is_enrolled_flag::int) filter (where employment_status = 'active') "
                        "from fct_workforce_snapshot group by simulation_year order by simulation_year")
              for run in runs]
    for base, more in zip(*totals):
        assert more[0] > base[0] and more[1] > base[1] and more[2] > base[2]


def _corrupted(run, isolated_db, sql: str, name: str):
    copy = isolated_db(run)
    with duckdb.connect(str(copy)) as con:
        con.execute(sql)
    ctx = inv.open_context(dataclasses.replace(run, db_path=copy), name)
    try:
        return "\n".join(problem for invariant in (inv.invariant_15_opt_out_dates_and_re_enrollment,
                                                   inv.invariant_20_voluntary_enrollment)
                         for problem in invariant(ctx))
    finally:
        ctx.con.close()


def test_a_voluntary_rate_changed_is_caught_by_invariant_20(runs, planwise_isolated_db):
    _, joined = runs
    (emp,) = joined.query("select min(employee_id) from fct_yearly_events "
                          "where event_category = 'voluntary_enrollment' and employee_deferral_rate <> 0.15")[0]
    problems = _corrupted(joined, planwise_isolated_db, f"""
        update fct_yearly_events set employee_deferral_rate = 0.15
        where event_category = 'voluntary_enrollment' and employee_id = '{emp}'""", "a rate changed")
    assert "voluntary enrollments != the recomputation" in problems and emp in problems, problems


def test_an_opt_out_year_lost_is_caught_by_invariant_15(runs, planwise_isolated_db):
    _, joined = runs
    (emp,) = joined.query("select min(employee_id) from fct_workforce_snapshot where opt_out_year is not null")[0]
    problems = _corrupted(joined, planwise_isolated_db, f"""
        update fct_workforce_snapshot set opt_out_year = null where employee_id = '{emp}'""", "opt-out year lost")
    assert "opt_out_year" in problems and emp in problems, problems
