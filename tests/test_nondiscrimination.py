"""HCE status and the ADP and ACP tests on constructed people (docs/simulation.md "Nondiscrimination tests"), through
the real models; every figure derived by hand.

Ten people employed all of 2025 with no event changing their pay or rate (no hires, leavers, raises, promotions or
escalation): three HCEs paid $160,000 (above 2024's $155,000 threshold: the census pay stands for 2024) and seven
non-HCEs paid $60,000, all under 50 (no catch-up) and all deferring, so each person's ratio is their deferral rate
and plan compensation their pay.
"""

import datetime as dt
from decimal import Decimal

import pytest

from pytest_planwise.strategies import write_census
from support.people import census_row

PLAN = {"compensation.merit_budget": 0.0, "compensation.cola_rate": 0.0, "promotion.base_rate": 0.0,
        "deferral_auto_escalation.enabled": False, "workforce.total_termination_rate": 0.0,
        "simulation.target_growth_rate": 0.0, "workforce.new_hire_termination_rate": 0.0}
HCE_PAY, NHCE_PAY = 160000, 60000


def population(tmp_path, hce_rates, nhce_rates):
    rows = [census_row(f"100-11-{n:04d}", f"EMP_2024_{n:06d}", dt.date(1985, 3, 1), dt.date(2015, 6, 1),
                       HCE_PAY if n < len(hce_rates) else NHCE_PAY, rate)
            for n, rate in enumerate([*hce_rates, *nhce_rates])]
    return write_census(rows, tmp_path / "census.csv")


def run_tests(planwise_run, census, **rules) -> dict[str, tuple]:
    run = planwise_run(years="2025-2025", census=census, overrides={**PLAN, **rules})
    assert run.status == "success", run.stderr
    assert run.query("select count(*), count(*) filter (where is_hce) from fct_workforce_snapshot") == [(10, 3)]
    rows = run.query("select test, hce_count, nhce_count, hce_average, nhce_average, test_limit, passed, margin, "
                     "exempt_reason, corrective_amount, forfeited_match, corrections from fct_nondiscrimination")
    return {row[0]: row[1:] for row in rows}


def spread(average: str, step: str, count: int) -> list[float]:
    """`count` rates averaging `average`: one step above and below it in pairs, the rest at it."""
    mid, d = Decimal(average), Decimal(step)
    rates = [mid + d, mid - d] if count == 3 else [mid - d, mid - d, mid, mid, mid, mid + d, mid + d]
    return [float(rate) for rate in rates]


# non-HCE average N -> limit: 0.015 -> 0.03 (2 x N), 0.04 -> 0.06 (N + 2 points), 0.10 -> 0.125 (1.25 x N)
BRANCHES = {"two_times": ("0.015", "0.03"), "plus_two_points": ("0.04", "0.06"), "one_and_a_quarter": ("0.10", "0.125")}


@pytest.mark.parametrize("branch", list(BRANCHES))
@pytest.mark.parametrize("over", ["0", "0.0001"], ids=["at_the_limit", "a_hundredth_of_a_point_over"])
def test_each_branch_of_the_limit_passes_at_it_and_fails_a_hair_above(planwise_run, tmp_path, branch, over):
    nhce, limit = BRANCHES[branch]
    hce = Decimal(limit) + Decimal(over)
    hce_rates = [float(hce + Decimal("0.02")), float(hce), float(hce - Decimal("0.02"))]
    adp = run_tests(planwise_run, population(tmp_path, hce_rates, spread(nhce, "0.01", 7)))["ADP"]
    assert adp[:8] == (3, 7, hce, Decimal(nhce), Decimal(limit), over == "0", -Decimal(over), None)
    if over == "0":
        assert adp[8:] == (0, 0, [])
        return
    # the cap c: (3 x limit - the two lower ratios) / 1 = limit + 0.0198, above the second ratio (limit + 0.0001), so
    # only the top HCE comes down, from limit + 0.0201: excess 0.0003 x 160,000 = 48.00, all of it theirs (their
    # 2025 deferral less 48.00 stays above the next HCE's)
    assert adp[8] == Decimal("48.00")
    assert adp[10] == [{"employee_id": "EMP_2024_000000", "amount": Decimal("48.00")}]


def test_a_test_failing_by_a_tenth_of_a_point_is_leveled_refunded_and_its_match_forfeited(planwise_run, tmp_path):
    """HCEs at 8 %, 6 %, 4.3 % (average 6.1 %); non-HCEs averaging 4 % (limit 6 %): fails by 0.1 point. Match 100 % of
    deferrals up to 8 % of pay, so the match on the refund is forfeited."""
    census = population(tmp_path, [0.08, 0.06, 0.043], [0.02, 0.03, 0.04, 0.04, 0.05, 0.05, 0.05])
    match = {"employer_match.formula": "tiered", "employer_match.tiers": [{"rate": 1.0, "up_to": 0.08}]}
    tests = run_tests(planwise_run, census, **match)
    adp, acp = tests["ADP"], tests["ACP"]
    assert adp[:8] == (3, 7, Decimal("0.061"), Decimal("0.04"), Decimal("0.06"), False, Decimal("-0.001"), None)
    # cap: 3 x 0.06 - 0.06 - 0.043 = 0.077 (>= 0.06, the next ratio): the 8 % HCE comes down to 7.7 % of 160,000,
    # 12,800 - 12,320 = 480.00 refunded, all from the top HCE (12,320 stays above the next HCE's 9,600); their match
    # falls from 12,800 to 12,320: 480.00 forfeited
    assert adp[8:] == (Decimal("480.00"), Decimal("480.00"),
                       [{"employee_id": "EMP_2024_000000", "amount": Decimal("480.00")}])
    # the ACP test on the match left: HCE ratios 7.7 %, 6 %, 4.3 % average 6 %, non-HCEs 4 % (their match = their
    # deferral): at the limit, passed, nothing to correct
    assert acp[:8] == (3, 7, Decimal("0.06"), Decimal("0.04"), Decimal("0.06"), True, Decimal("0"), None)
    assert acp[8:] == (0, 0, [])


@pytest.mark.parametrize(("raised_to", "passes"), [(0.052, False), (0.056, False), (0.057, True)])
def test_raising_one_non_hce_raises_the_limit_by_at_most_twice_a_seventh_of_it(planwise_run, tmp_path, raised_to,
                                                                                passes):
    """One non-HCE from 5 % to `raised_to`: the non-HCE average rises by a seventh of the raise, rounded to a
    hundredth of a percent, and the +2 points limit with it. 0.2 point: N 4.03 %, limit 6.03 % < 6.1 %, still
    failing; 0.6 point: 4.09 %, 6.09 %, failing by a hundredth; 0.7 point: 4.1 %, 6.1 %: passes at the limit."""
    census = population(tmp_path, [0.08, 0.06, 0.043], [0.02, 0.03, 0.04, 0.04, 0.05, 0.05, raised_to])
    adp = run_tests(planwise_run, census)["ADP"]
    nhce = {0.052: Decimal("0.0403"), 0.056: Decimal("0.0409"), 0.057: Decimal("0.041")}[raised_to]
    assert adp[3:6] == (nhce, nhce + Decimal("0.02"), passes)


@pytest.mark.parametrize("formula", ["safe_harbor_basic", "qaca"])
def test_a_safe_harbor_match_is_exempt_from_both_tests(planwise_run, tmp_path, formula):
    census = population(tmp_path, [0.08, 0.06, 0.043], [0.02, 0.03, 0.04, 0.04, 0.05, 0.05, 0.05])
    tests = run_tests(planwise_run, census, **{"employer_match.formula": formula})
    for test in ("ADP", "ACP"):
        assert tests[test][5:] == (True, tests[test][6], "safe harbor", 0, 0, [])
    assert tests["ADP"][6] == Decimal("-0.001")  # the margin it would have had, shown


def test_hce_status_looks_back_at_last_years_pay(planwise_run, tmp_path):
    """2026: the HCE threshold of 2025 is $160,000. An HCE paid exactly $160,000 in 2025 is not paid more than it,
    so nobody is an HCE in 2026; a hire is never an HCE in the hire year."""
    census = population(tmp_path, [0.08, 0.06, 0.043], [0.02, 0.03, 0.04, 0.04, 0.05, 0.05, 0.05])
    run = planwise_run(years="2025-2026", census=census, overrides={**PLAN, "simulation.target_growth_rate": 0.1})
    assert run.status == "success", run.stderr
    by_year = dict(run.query("select simulation_year, count(*) filter (where is_hce) from fct_workforce_snapshot "
                             "group by 1"))
    assert by_year == {2025: 3, 2026: 0}
    hires = run.query("select count(*), count(*) filter (where s.is_hce) from fct_yearly_events e "
                      "join fct_workforce_snapshot s using (employee_id, simulation_year) where e.event_type = 'hire'")
    assert hires[0][0] > 0 and hires[0][1] == 0
    (adp,) = run.query("select hce_count, passed, exempt_reason from fct_nondiscrimination "
                       "where simulation_year = 2026 and test = 'ADP'")
    assert adp == (0, True, "no HCEs")
