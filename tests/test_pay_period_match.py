"""Match per pay period and true-up on constructed people, through the real models (docs/simulation.md, "Match per
pay period and true-up").

Nobody gets a raise, a promotion, leaves or is escalated, and the default match is 50 % of the deferral up to 6 % of
pay, so per pay period the match is min(0.5 x deferral, 0.03 x pay). Every expected amount below is worked out by
hand from the rule: period k of P is the slice [(k - 1) D / P, k D / P) of the year's D = 365 days of 2025; a period
defers what the 402(g) limit ($23,500 under age 50) leaves after the earlier periods.
"""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from pytest_planwise import invariants as inv
from pytest_planwise.strategies import write_census
from support.people import census_row

STILL = {"compensation.merit_budget": 0.0, "compensation.cola_rate": 0.0, "workforce.total_termination_rate": 0.0,
         "simulation.target_growth_rate": 0.0, "promotion.base_rate": 0.0, "deferral_auto_escalation.enabled": False,
         # a census person hired after the cutoff and not enrolled is auto-enrolled on Jan 31 at 6.5 %, never opting out
         "enrollment.auto_enrollment.scope": "all_eligible_employees",
         "enrollment.auto_enrollment.default_deferral_rate": 0.065,
         **{f"enrollment.opt_out_rates.by_age.{age}": 0.0 for age in ("young", "mid_career", "mature", "senior")}}
BORN = dt.date(1985, 5, 1)  # 40 on Dec 31 2025: the 402(g) limit is $23,500 without catch-up
HIRED = dt.date(2021, 3, 1)  # after the auto-enrollment cutoff (2020-01-01)
LIMIT = 23500

ACCEPTANCE = "EMP_2024_000001"  # $260,000 deferring 15 %
OCTOBER = "EMP_2024_000002"     # $152,100 deferring 20 %: the limit falls in October
JOINER = "EMP_2024_000003"      # $104,000 not enrolled: auto-enrolled at 6.5 % on Jan 31


def cents(amount) -> Decimal:
    """Round half up to the cent, by hand: floor(100 x amount + 1/2) / 100."""
    return Decimal(int((Fraction(amount) * 100 + Fraction(1, 2)) // 1)) / 100


@pytest.fixture(scope="module")
def censuses(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pay_period_match")
    acceptance = write_census([census_row("100-07-0001", ACCEPTANCE, BORN, HIRED, 260000, 0.15)],
                              folder / "acceptance.csv")
    others = write_census([census_row("100-07-0002", OCTOBER, BORN, HIRED, 152100, 0.20),
                           census_row("100-07-0003", JOINER, BORN, HIRED, 104000, 0.0)], folder / "others.csv")
    return {"acceptance": acceptance, "others": others}


def run_2025(planwise_run, census, **overrides):
    run = planwise_run(years="2025-2025", census=census,
                       overrides={**STILL, **{key.replace("__", "."): value for key, value in overrides.items()}})
    assert run.status == "success", run.stderr
    return run


def money(run, emp):
    return run.query("select employer_match_amount, employer_match_true_up, employee_contribution "
                     "from fct_workforce_snapshot where simulation_year = 2025 and employee_id = $e", {"e": emp})[0]


def test_acceptance_match_stops_with_the_402g_limit_and_the_true_up_restores_the_annual_formula(planwise_run,
                                                                                                 censuses):
    # 26 periods of 260,000 / 26 = 10,000 pay, 1,500 requested: 15 periods defer 22,500, the 16th the 1,000 left,
    # the last 10 nothing. Each of the 16 matches min(0.5 x deferral, 0.03 x 10,000) = 300 (the 16th: min(500, 300)).
    by_period = 16 * min(Fraction(1, 2) * 1500, Fraction(3, 100) * 10000)
    assert 15 * 1500 + (LIMIT - 15 * 1500) == LIMIT and by_period == 4800
    # the annual formula: min(0.5 x 23,500, 0.03 x 260,000) = 7,800
    annual = min(Fraction(1, 2) * LIMIT, Fraction(3, 100) * 260000)
    assert annual == 7800

    without = run_2025(planwise_run, censuses["acceptance"], employer_match__true_up=False)
    assert money(without, ACCEPTANCE) == (cents(by_period), Decimal("0.00"), Decimal("23500.00"))
    assert Decimal(without.years[2025]["true_up_cost"]) == 0

    with_true_up = run_2025(planwise_run, censuses["acceptance"], employer_match__true_up=True)
    assert money(with_true_up, ACCEPTANCE) == (cents(annual), cents(annual - by_period), Decimal("23500.00"))
    assert cents(annual - by_period) == Decimal("3000.00")
    assert Decimal(with_true_up.years[2025]["true_up_cost"]) == Decimal("3000.00")


# $152,100 at 20 %: 26 periods of 5,850 pay and 1,170 requested; 20 periods defer 23,400, the 21st (days 280.8 to
# 294.8: Oct 8 to Oct 22) the 100 left. 20 x min(585, 175.50) + min(50, 175.50); annual min(11,750, 4,563).
OCTOBER_BY_PERIOD = {
    12: (12675, 2535),  # 152,100 / 12 pay, 20 % of it
    26: (5850, 1170),
    52: (2925, 585),
}


def october_by_hand(periods: int) -> Fraction:
    pay, requested = OCTOBER_BY_PERIOD[periods]
    assert Fraction(152100, periods) == pay and Fraction(pay) / 5 == requested
    total, deferred = Fraction(0), 0
    for _ in range(periods):
        deferral = min(requested, LIMIT - deferred)
        deferred += deferral
        total += min(Fraction(1, 2) * deferral, Fraction(3, 100) * pay)
    return total


def test_the_402g_limit_reached_in_october(planwise_run, censuses):
    assert october_by_hand(26) == 20 * Fraction(17550, 100) + 50 == 3560
    assert 20 * 1170 < LIMIT <= 21 * 1170 and 20 * Fraction(365, 26) > 273  # the 21st period starts in October
    annual = min(Fraction(1, 2) * LIMIT, Fraction(3, 100) * 152100)  # 4,563
    without = run_2025(planwise_run, censuses["others"], employer_match__true_up=False)
    with_true_up = run_2025(planwise_run, censuses["others"], employer_match__true_up=True)
    assert money(without, OCTOBER) == (Decimal("3560.00"), Decimal("0.00"), Decimal("23500.00"))
    assert money(with_true_up, OCTOBER) == (cents(annual), cents(annual - 3560), Decimal("23500.00"))
    assert cents(annual) == Decimal("4563.00")


def test_a_rate_starting_mid_period_is_matched_period_by_period(planwise_run, censuses):
    # enrolled Jan 31 (day 30) at 6.5 %: periods 1 and 2 ([0, 28.08)) defer nothing; period 3 ([730/26, 1095/26)
    # = [28.08, 42.12)) defers 6.5 % of the pay of its days from day 30: 104,000 / 365 x (1095/26 - 30)
    # = 104,000 / 365 x 315/26, under 6 % of its pay 4,000, so it is matched at 50 %; periods 4-26 defer 260 each,
    # matched 0.03 x 4,000 = 120 each.
    third = Fraction(65, 1000) * Fraction(104000, 365) * (Fraction(3 * 365, 26) - 30)
    assert third < Fraction(6, 100) * 4000
    by_period = Fraction(1, 2) * third + 23 * min(Fraction(1, 2) * 260, Fraction(3, 100) * 4000)
    # the annual formula: deferral 6.5 % of 104,000 x 335/365 rounded to the cent, pay 104,000
    deferral = cents(Fraction(65, 1000) * 104000 * Fraction(335, 365))
    annual = cents(min(Fraction(1, 2) * Fraction(deferral), Fraction(3, 100) * 104000))
    assert (cents(by_period), annual) == (Decimal("2872.19"), Decimal("3102.19"))

    without = run_2025(planwise_run, censuses["others"], employer_match__true_up=False)
    with_true_up = run_2025(planwise_run, censuses["others"], employer_match__true_up=True)
    assert without.query("select effective_date, employee_deferral_rate from fct_yearly_events "
                         "where employee_id = $e and event_type like 'enrollment%'", {"e": JOINER}) == [
        (dt.date(2025, 1, 31), Decimal("0.0650"))]
    assert money(without, JOINER) == (cents(by_period), Decimal("0.00"), deferral)
    assert money(with_true_up, JOINER) == (annual, annual - cents(by_period), deferral)
    # the summary's cost is the two people's true-ups
    assert Decimal(with_true_up.years[2025]["true_up_cost"]) == (annual - cents(by_period)) + Decimal("1003.00")


def test_monthly_and_weekly_periods_differ_where_the_limit_cuts_a_period(planwise_run, censuses):
    # 12 periods: 9 defer 2,535 (22,815), the 10th the 685 left: 9 x min(1,267.50, 380.25) + min(342.50, 380.25);
    # 52 periods: 40 defer 585 (23,400), the 41st the 100 left: 40 x min(292.50, 87.75) + min(50, 87.75)
    assert october_by_hand(12) == 9 * Fraction(38025, 100) + Fraction(34250, 100) == Fraction(376475, 100)
    assert october_by_hand(52) == 40 * Fraction(8775, 100) + 50 == 3560
    monthly = run_2025(planwise_run, censuses["others"], employer_match__true_up=False, payroll__periods_per_year=12)
    weekly = run_2025(planwise_run, censuses["others"], employer_match__true_up=False, payroll__periods_per_year=52)
    assert money(monthly, OCTOBER)[0] == Decimal("3764.75")
    assert money(weekly, OCTOBER)[0] == Decimal("3560.00")


@pytest.mark.parametrize("true_up", [True, False])
def test_every_invariant_holds_with_and_without_true_up(planwise_run, true_up):
    """A default-sized population, 12 monthly periods: invariant 13 recomputes each sampled person's match (both
    ways) and true-up with pytest_planwise.employer_rules.periodic_match, written apart from the SQL."""
    run = planwise_run(employees=1000, years="2025-2026",
                       overrides={"employer_match.true_up": true_up, "payroll.periods_per_year": 12})
    assert run.status == "success", run.stderr
    ctx = inv.open_context(run, f"true_up={true_up}")
    try:
        problems = [problem for invariant in inv.INVARIANTS for problem in invariant(ctx)]
        sampled_true_ups = [m.expected["true_up"] for m in inv.recompute_money(ctx)]
        trued_up = ctx.one("select count(*) from fct_workforce_snapshot where employer_match_true_up <> 0")[0]
    finally:
        ctx.con.close()
    assert not problems, inv.report(problems)
    if true_up:  # the sample holds people matched per period differently from the annual formula
        assert trued_up > 0 and any(value > 0 for value in sampled_true_ups)
    else:
        assert trued_up == 0
