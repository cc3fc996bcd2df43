"""Plan eligibility (docs/simulation.md "Plan eligibility"): entry on the first entry date on or after the day a
person meets eligibility.minimum_age and eligibility.service_months, auto-enrollment 30 days after entry, nobody
deferring before it, census participants staying enrolled, and one dated eligibility event per entrant.

Constructed people start in 2026 (census as of Dec 31, 2025), so a person hired in 2025 enters during the first
simulated year; every expected date and amount below is derived by hand from the rule.
"""

import datetime as dt
from decimal import Decimal

import pytest

from pytest_planwise import invariants as inv
from pytest_planwise.strategies import write_census
from support.people import census_row

# nobody leaves, is hired, promoted, raised, escalated or opts out: only the entry rule moves anyone
STILL = {"compensation.merit_budget": 0.0, "compensation.cola_rate": 0.0, "workforce.total_termination_rate": 0.0,
         "simulation.target_growth_rate": 0.0, "promotion.base_rate": 0.0, "deferral_auto_escalation.enabled": False,
         **{f"enrollment.opt_out_rates.by_age.{band}": 0.0 for band in ("young", "mid_career", "mature", "senior")}}
AGE_21_YEAR_QUARTERLY = {"eligibility.minimum_age": 21, "eligibility.service_months": 12,
                         "eligibility.entry_dates": "quarterly"}
PAY = 100000
# id: (birth, hire, census deferral rate)
PEOPLE = {
    "EMP_2025_000001": (dt.date(1995, 6, 1), dt.date(2025, 2, 10), 0.0),   # aged 30, hired 2025-02-10
    "EMP_2025_000002": (dt.date(2005, 4, 1), dt.date(2020, 1, 1), 0.0),    # 21 on 2026-04-01, an entry date
    "EMP_2025_000003": (dt.date(2005, 4, 2), dt.date(2020, 1, 1), 0.0),    # 21 on 2026-04-02, the day after one
    "EMP_2025_000004": (dt.date(2007, 9, 1), dt.date(2024, 5, 1), 0.05),   # 18, deferring 5 % in the census
    "EMP_2025_000005": (dt.date(1980, 1, 1), dt.date(2025, 8, 15), 0.0),   # service met on 2026-08-15
}


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    rows = [census_row(f"100-07-{number:04d}", emp, birth, hire, PAY, rate)
            for number, (emp, (birth, hire, rate)) in enumerate(PEOPLE.items(), 1)]
    return write_census(rows, tmp_path_factory.mktemp("plan_eligibility") / "census.csv")


def simulate(planwise_run, census, **rules):
    run = planwise_run(years="2026-2026", census=census, overrides={**STILL, **rules})
    assert run.status == "success", run.stderr
    return run


def events(run, kind: str) -> dict[str, dt.date]:
    return dict(run.query("select employee_id, effective_date from fct_yearly_events where event_type = ?", [kind]))


def deferred(run) -> dict[str, Decimal]:
    return dict(run.query("select employee_id, employee_contribution from fct_workforce_snapshot"))


def test_age_21_one_year_quarterly_entry(planwise_run, census):
    """Hired 2025-02-10 aged 30: a year of service on 2026-02-10, so entry on the next quarter's first day,
    2026-04-01, auto-enrollment 30 days later (2026-05-01) and deferrals from that day only."""
    run = simulate(planwise_run, census, **AGE_21_YEAR_QUARTERLY)
    entered, enrolled = events(run, "eligibility"), events(run, "enrollment")
    assert entered["EMP_2025_000001"] == dt.date(2026, 4, 1)
    assert enrolled["EMP_2025_000001"] == dt.date(2026, 5, 1)
    # 6 % of $100,000 over May 1 - Dec 31 (245 of 365 days): 6,000 x 245 / 365 = 4,027.397 -> 4,027.40
    assert deferred(run)["EMP_2025_000001"] == Decimal("4027.40")


def test_entry_exactly_on_an_entry_date_and_the_day_after(planwise_run, census):
    """Turning 21 on Apr 1 enters that day; turning 21 on Apr 2 waits for Jul 1 (auto-enrolled Jul 31)."""
    run = simulate(planwise_run, census, **AGE_21_YEAR_QUARTERLY)
    entered, enrolled = events(run, "eligibility"), events(run, "enrollment")
    assert (entered["EMP_2025_000002"], enrolled["EMP_2025_000002"]) == (dt.date(2026, 4, 1), dt.date(2026, 5, 1))
    assert (entered["EMP_2025_000003"], enrolled["EMP_2025_000003"]) == (dt.date(2026, 7, 1), dt.date(2026, 7, 31))
    # Jul 31 - Dec 31 is 154 days: 6,000 x 154 / 365 = 2,531.507 -> 2,531.51
    assert deferred(run)["EMP_2025_000003"] == Decimal("2531.51")


def test_a_census_participant_below_the_minimum_age_stays_enrolled(planwise_run, census):
    """18 and deferring 5 % in the census: still deferring all year, no eligibility or enrollment event."""
    run = simulate(planwise_run, census, **AGE_21_YEAR_QUARTERLY)
    assert "EMP_2025_000004" not in events(run, "eligibility") | events(run, "enrollment")
    assert deferred(run)["EMP_2025_000004"] == Decimal("5000.00")  # 5 % of 100,000, the whole year


@pytest.mark.parametrize(("entry_dates", "entry"), [
    ("immediate", dt.date(2026, 2, 15)), ("monthly", dt.date(2026, 3, 1)), ("quarterly", dt.date(2026, 4, 1)),
    ("semi_annual", dt.date(2026, 7, 1))])
def test_six_months_of_service_then_each_kind_of_entry_date(planwise_run, census, entry_dates, entry):
    """Hired 2025-08-15 with six months of service required: the rule is met on 2026-02-15."""
    run = simulate(planwise_run, census, **{"eligibility.service_months": 6, "eligibility.entry_dates": entry_dates})
    assert events(run, "eligibility")["EMP_2025_000005"] == entry
    assert events(run, "enrollment")["EMP_2025_000005"] == entry + dt.timedelta(days=30)


def test_default_rules_enter_on_the_hire_date(planwise_run):
    """No entry rule: every hire enters on the hire date (eligibility event that day) and is auto-enrolled 30 days
    later, as before entry rules existed."""
    run = planwise_run(employees=1000, years="2025-2025")
    assert run.status == "success", run.stderr
    (hires, entered, same_day) = run.query("""
        select count(*), count(e.employee_id), count(*) filter (where e.effective_date = h.effective_date)
        from fct_yearly_events h left join fct_yearly_events e
          on e.employee_id = h.employee_id and e.event_type = 'eligibility'
        where h.event_type = 'hire'""")[0]
    assert hires > 0 and hires == entered == same_day


@pytest.mark.parametrize("scope", ["new_hires_only", "all_eligible_employees"])
def test_entry_rules_over_years_hold_every_invariant(planwise_run, scope):
    """1,000 people over three years with age 25, six months and semi-annual entry: hires of one year enter in the
    next, and every invariant (14 and 16 recompute entry with pytest_planwise.plan_entry) holds."""
    run = planwise_run(employees=1000, years="2025-2027", overrides={
        "eligibility.minimum_age": 25, "eligibility.service_months": 6, "eligibility.entry_dates": "semi_annual",
        "enrollment.auto_enrollment.scope": scope})
    assert run.status == "success", run.stderr
    (later_year,) = run.query("""
        select count(*) from fct_yearly_events e join fct_yearly_events h
          on h.employee_id = e.employee_id and h.event_type = 'hire'
        where e.event_type = 'eligibility' and e.simulation_year > h.simulation_year""")[0]
    assert later_year > 0  # people hired in one year entered in a later one
    problems = inv.check_invariants(run, f"entry rules, {scope}")
    assert not problems, inv.report(problems)
