"""Business sanity of the default projection and of configured growth: what an analyst checks first."""

from decimal import Decimal

import pytest


@pytest.fixture(scope="module")
def default_run(planwise_run):
    run = planwise_run()
    assert run.status == "success", run.stderr
    return run


@pytest.mark.parametrize("growth", [0.0, 0.05, 0.10])
def test_headcount_grows_as_configured(planwise_run, growth):
    run = planwise_run(years="2025-2027", employees=2000, simulation__target_growth_rate=growth)
    assert run.status == "success", run.stderr
    for year, metrics in run.years.items():
        target = metrics["start_headcount"] * (1 + growth)
        assert abs(metrics["end_headcount"] - target) <= 1, (year, metrics["start_headcount"], metrics["end_headcount"])


def test_year_over_year_headcount_ratio_is_plausible(default_run):
    for year, metrics in default_run.years.items():
        ratio = metrics["end_headcount"] / metrics["start_headcount"]
        assert 0.5 <= ratio <= 2.0, (year, ratio)


def test_contributions_are_positive_when_people_defer(default_run):
    rows = default_run.query("""
        select simulation_year, count(*) filter (where current_deferral_rate > 0),
               sum(employee_contribution), sum(employer_match_amount), sum(employer_core_amount)
        from fct_workforce_snapshot group by 1 order by 1""")
    assert [row[0] for row in rows] == [2025, 2026, 2027, 2028, 2029]
    for year, deferring, employee, match, core in rows:
        assert deferring > 0, year
        assert employee > 0 and match > 0 and core > 0, (year, employee, match, core)
    # nobody whose rate was 0 all year contributes (an opt-out defers between enrollment and opt-out)
    assert default_run.query("select count(*) from fct_workforce_snapshot s where current_deferral_rate = 0 "
                             "and employee_contribution <> 0 and not exists (select 1 from fct_yearly_events e "
                             "where e.employee_id = s.employee_id and e.simulation_year = s.simulation_year "
                             "and e.event_type = 'enrollment_change')")[0][0] == 0


def test_no_deferral_means_no_employee_contributions_or_match(planwise_run):
    run = planwise_run(years="2025-2025", employees=1000, enrollment__auto_enrollment__enabled=False,
                       deferral_auto_escalation__enabled=False, census=None)
    metrics = run.years[2025]
    # census people keep their own elections; only new hires differ: none of them may contribute
    hires = run.query("select sum(employee_contribution), sum(employer_match_amount) from fct_workforce_snapshot "
                      "where detailed_status_code like 'new_hire%'")[0]
    assert hires == (Decimal("0.00"), Decimal("0.00"))
    assert Decimal(metrics["employee_contributions"]) > 0


def test_average_pay_of_continuing_employees_grows_by_merit_and_promotions(default_run):
    rows = default_run.query("""
        select a.simulation_year, avg(b.current_compensation / a.current_compensation) - 1
        from fct_workforce_snapshot a
        join fct_workforce_snapshot b on b.employee_id = a.employee_id and b.simulation_year = a.simulation_year + 1
        where a.employment_status = 'active' and b.detailed_status_code = 'continuous_active'
        group by 1 order by 1""")
    for year, growth in rows:
        assert 0.03 <= growth <= 0.06, (year, growth)  # merit + COLA 3 % plus the promotion effect
