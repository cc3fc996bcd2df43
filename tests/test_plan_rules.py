"""Plan rules on constructed people, through the real CLI and dbt models (docs/simulation.md, Contributions).

One two-year run of a small constructed census (no raises, leavers or hires, so pay is exactly as written) pins the
IRS limits: catch-up by the age attained on Dec 31 at ages 49, 50, 59, 60, 63 and 64, match and core on pay capped
at 401(a)(17). A second constructed census, with a rich match and core, makes the 415(c) limit bind; its amounts
are worked out by hand from docs/simulation.md and the published 2025 limits.
"""

import datetime as dt
import json
from decimal import Decimal

import pytest

from pytest_planwise.invariants import CENT, round_half_up
from pytest_planwise.strategies import write_census
from support.people import census_row

HIRED = dt.date(2010, 3, 1)  # long service: never a new hire, always eligible
NO_CHURN = {"compensation__merit_budget": 0.0, "compensation__cola_rate": 0.0,
            "workforce__total_termination_rate": 0.0, "simulation__target_growth_rate": 0.0}
# (id, birth date, deferral rate) -> expected 2025 deferral; every pay is $400,000, level 5 (never promoted)
PEOPLE = {
    "EMP_2024_000001": (dt.date(1965, 6, 30), 0.10, Decimal("34750.00")),   # the acceptance person: 60 in 2025
    "EMP_2024_000002": (dt.date(1976, 12, 31), 0.15, Decimal("23500.00")),  # 49
    "EMP_2024_000003": (dt.date(1975, 12, 31), 0.15, Decimal("31000.00")),  # 50 on Dec 31: catch-up
    "EMP_2024_000004": (dt.date(1966, 1, 1), 0.15, Decimal("31000.00")),    # 59
    "EMP_2024_000005": (dt.date(1965, 12, 31), 0.15, Decimal("34750.00")),  # 60 on Dec 31: higher catch-up
    "EMP_2024_000006": (dt.date(1962, 1, 1), 0.15, Decimal("34750.00")),    # 63
    "EMP_2024_000007": (dt.date(1961, 12, 31), 0.15, Decimal("31000.00")),  # 64: back to the age-50 catch-up
}


@pytest.fixture(scope="module")
def constructed_run(planwise_run, tmp_path_factory):
    rows = [census_row(f"100-01-{number:04d}", emp, birth, HIRED, 400000, rate)
            for number, (emp, (birth, rate, _)) in enumerate(PEOPLE.items(), 1)]
    census = write_census(rows, tmp_path_factory.mktemp("constructed") / "census.csv")
    run = planwise_run(years="2025-2026", census=census, overrides={k.replace("__", "."): v for k, v in NO_CHURN.items()})
    assert run.status == "success", run.stderr
    return run


def _contributions(run, year):
    return {row[0]: row[1:] for row in run.query(
        "select employee_id, prorated_annual_compensation, employee_contribution, employer_match_amount, "
        "employer_core_amount, irs_limit_applied, annual_additions_limit_applied from fct_workforce_snapshot "
        "where simulation_year = ?", [year])}


def test_catch_up_by_age_attained_on_dec_31(constructed_run):
    got = _contributions(constructed_run, 2025)
    assert {emp: got[emp][1] for emp in PEOPLE} == {emp: expected for emp, (_, _, expected) in PEOPLE.items()}
    assert all(got[emp][4] for emp in PEOPLE)  # every one of them is capped


def test_acceptance_person_2025_and_2026(constructed_run):
    # 415(c) does not bind with the default match and core: 23,500 + 10,500 + 7,000 = 41,000 <= 70,000 in 2025 and
    # 24,500 + 10,800 + 7,200 = 42,500 <= 72,000 in 2026 (catch-up excluded), so nothing is cut and no flag is set
    got = _contributions(constructed_run, 2025)["EMP_2024_000001"]
    assert got == (Decimal("400000.00"), Decimal("34750.00"), Decimal("10500.00"), Decimal("7000.00"), True, False)
    got = _contributions(constructed_run, 2026)["EMP_2024_000001"]
    # 61 in 2026: 24,500 + 11,250; match and core on the 2026 401(a)(17) limit of 360,000
    assert got == (Decimal("400000.00"), Decimal("35750.00"), Decimal("10800.00"), Decimal("7200.00"), True, False)


# 415(c) made to bind: a dollar-for-dollar match on up to 10 % of pay and a 15 % core, no escalation (rates stay as
# written), no promotions. Everyone is employed all of 2025 and active on Dec 31 (match and core are due).
RICH_PLAN = {**{k.replace("__", "."): v for k, v in NO_CHURN.items()}, "promotion.base_rate": 0.0,
             "deferral_auto_escalation.enabled": False, "employer_match.rate": 1.0,
             "employer_match.max_match_percentage": 0.10, "employer_core_contribution.rate": 0.15}
# (id, birth date, pay, deferral rate). 2025 limits: 402(g) 23,500, age 60-63 catch-up 11,250, 401(a)(17) 350,000,
# 415(c) 70,000. Match = min(deferral x 1.0, plan pay x 10 %), core = 15 % x plan pay, plan pay = min(pay, 350,000).
RICH_PEOPLE = {
    "EMP_2024_000001": (dt.date(1980, 3, 1), 100000, 0.05),   # 45, well under every limit
    "EMP_2024_000002": (dt.date(1980, 3, 1), 250000, 0.10),   # 45, 415(c) exceeded by less than the match
    "EMP_2024_000003": (dt.date(1980, 3, 1), 400000, 0.10),   # 45, exceeded by more than the match
    "EMP_2024_000004": (dt.date(1965, 6, 30), 400000, 0.10),  # 60 on Dec 31: the catch-up is outside 415(c)
}
# By hand, per person: deferral (402(g) flag), match and core before 415(c), what 415(c) leaves the employer
# (70,000 - the deferral up to 23,500), and the flag.
#   1: deferral 5 % x 100,000 = 5,000; match min(5,000, 10,000) = 5,000; core 15,000;
#      5,000 + 5,000 + 15,000 = 25,000 <= 70,000: nothing cut, no flag.
#   2: 10 % x 250,000 = 25,000 > 23,500: deferral 23,500 (flag); match min(23,500, 25,000) = 23,500; core 37,500;
#      23,500 + 23,500 + 37,500 = 84,500: 14,500 over; the employer may give 70,000 - 23,500 = 46,500.
#   3: 10 % x 400,000 = 40,000 -> 23,500 (flag); plan pay 350,000: match min(23,500, 35,000) = 23,500; core 52,500;
#      23,500 + 23,500 + 52,500 = 99,500: 29,500 over; the employer may give 46,500.
#   4: 40,000 -> 23,500 + 11,250 = 34,750 (flag); match min(34,750, 35,000) = 34,750; core 52,500; 415(c) counts
#      23,500 of the deferral: 23,500 + 34,750 + 52,500 = 110,750: 40,750 over; the employer may give 46,500.
RICH_EXPECTED = {  # id: (deferral, 402(g) flag, match + core, 415(c) flag)
    "EMP_2024_000001": (Decimal("5000.00"), False, Decimal("20000.00"), False),
    "EMP_2024_000002": (Decimal("23500.00"), True, Decimal("46500.00"), True),
    "EMP_2024_000003": (Decimal("23500.00"), True, Decimal("46500.00"), True),
    "EMP_2024_000004": (Decimal("34750.00"), True, Decimal("46500.00"), True),
}
# The order of docs/simulation.md: "the employee's deferral is kept; the match is cut first, then the core".
#   2: 14,500 over, less than the match: match 23,500 - 14,500 = 9,000, core 37,500 kept.
#   3: 29,500 over, more than the match: match 0, core 52,500 - (29,500 - 23,500) = 46,500.
#   4: 40,750 over: match 0, core 52,500 - (40,750 - 34,750) = 46,500.
RICH_CUT = {  # id: (match, core)
    "EMP_2024_000001": (Decimal("5000.00"), Decimal("15000.00")),
    "EMP_2024_000002": (Decimal("9000.00"), Decimal("37500.00")),
    "EMP_2024_000003": (Decimal("0.00"), Decimal("46500.00")),
    "EMP_2024_000004": (Decimal("0.00"), Decimal("46500.00")),
}


@pytest.fixture(scope="module")
def rich_plan_run(planwise_run, tmp_path_factory):
    rows = [census_row(f"100-02-{number:04d}", emp, birth, HIRED, pay, rate)
            for number, (emp, (birth, pay, rate)) in enumerate(RICH_PEOPLE.items(), 1)]
    census = write_census(rows, tmp_path_factory.mktemp("rich_plan") / "census.csv")
    run = planwise_run(years="2025-2025", census=census, overrides=RICH_PLAN)
    assert run.status == "success", run.stderr
    return run


def test_415c_limit_binds_on_the_employer_additions_and_sets_its_flag(rich_plan_run):
    got = _contributions(rich_plan_run, 2025)
    assert {emp: (row[1], row[4], row[2] + row[3], row[5]) for emp, row in got.items()} == RICH_EXPECTED
    assert got["EMP_2024_000001"][2:4] == RICH_CUT["EMP_2024_000001"]  # nothing cut below the limit


def test_415c_cuts_the_match_first_then_the_core(rich_plan_run):
    got = _contributions(rich_plan_run, 2025)
    assert {emp: (row[2], row[3]) for emp, row in got.items()} == RICH_CUT


def test_ten_year_run_reports_projected_irs_years(planwise_run):
    run = planwise_run(years="2025-2034", employees=200)
    assert run.status == "success", run.stderr
    assert run.summary["projected_irs_years"] == list(range(2027, 2035))
    assert run.stdout.count("IRS limits: 2027-2034 use projected values") == 1
    logged = [json.loads(line) for line in open(run.summary["log_path"])]
    assert [line["years"] for line in logged if line["event"] == "irs_limits_projected"] == [list(range(2027, 2035))]


# Simulated hires cannot be placed by the census (a census person is employed from Jan 1), so the acceptance hires
# are found by the draws of docs/simulation.md: with seed 3478, u('hire_date') puts NH_2025_000009 and
# NH_2025_000041 on 2025-03-01; with every opt-out probability 0.5, u('optout') keeps the first enrolled and makes
# the second opt out, u('optout_date') on day 14 + 1 after enrollment. No pay changes (no merit, COLA, promotion)
# and no new-hire leavers, so each deferral is rate x hire pay x days / 365.
ACCEPTANCE = {"workforce.new_hire_termination_rate": 0.0, "compensation.merit_budget": 0.0,
              "compensation.cola_rate": 0.0, "promotion.base_rate": 0.0,
              **{f"enrollment.opt_out_rates.by_age.{age}": 0.5 for age in ("young", "mid_career", "mature", "senior")},
              **{f"enrollment.opt_out_rates.by_income.{pay}": 1.0 for pay in ("low", "moderate", "high", "executive")}}
STAYS, OPTS_OUT = "NH_2025_000009", "NH_2025_000041"


def test_a_march_hire_defers_from_enrollment_and_until_opt_out(planwise_run):
    """docs/simulation.md: a hire of 2025-03-01 enters the plan that day (no entry rule), is auto-enrolled on
    2025-03-31 and defers only on pay from that day; one who opts out on 2025-04-15 defers only on the 15 days
    2025-03-31..2025-04-14 (the opt-out day at 0)."""
    run = planwise_run(years="2025-2025", employees=500, seed=3478, overrides=ACCEPTANCE)
    assert run.status == "success", run.stderr
    events = {(emp, kind): (day, pay, rate) for emp, kind, day, pay, rate in run.query(
        "select employee_id, event_type, effective_date, compensation_amount, employee_deferral_rate "
        "from fct_yearly_events where employee_id in (?, ?)", [STAYS, OPTS_OUT])}
    assert {key: value[0] for key, value in events.items()} == {
        (STAYS, "hire"): dt.date(2025, 3, 1), (STAYS, "eligibility"): dt.date(2025, 3, 1),
        (STAYS, "enrollment"): dt.date(2025, 3, 31),
        (OPTS_OUT, "hire"): dt.date(2025, 3, 1), (OPTS_OUT, "eligibility"): dt.date(2025, 3, 1),
        (OPTS_OUT, "enrollment"): dt.date(2025, 3, 31), (OPTS_OUT, "enrollment_change"): dt.date(2025, 4, 15)}
    assert events[(STAYS, "enrollment")][2] == events[(OPTS_OUT, "enrollment")][2] == Decimal("0.0600")
    got = {row[0]: row[1:] for row in run.query(
        "select employee_id, current_compensation, prorated_annual_compensation, employee_contribution, "
        "current_deferral_rate, opted_out_flag, employer_match_amount from fct_workforce_snapshot "
        "where employee_id in (?, ?)", [STAYS, OPTS_OUT])}
    for emp, deferring_days, rate_at_year_end in ((STAYS, 276, Decimal("0.06")), (OPTS_OUT, 15, Decimal(0))):
        hire_pay = events[(emp, "hire")][1]
        pay, prorated, deferral, rate, opted_out, match = got[emp]
        assert (pay, prorated) == (hire_pay, round_half_up(hire_pay * 306 / 365, CENT))  # employed Mar 1..Dec 31
        assert deferral == round_half_up(Decimal("0.06") * hire_pay * deferring_days / 365, CENT), emp
        assert (rate, opted_out) == (rate_at_year_end, emp == OPTS_OUT)
        # active at year end, 2,080 x 306 / 365 = 1,743.8 hours >= 1,000: matched at 50 % (6 % = the match cap)
        assert match == round_half_up(deferral * Decimal("0.5"), CENT)


@pytest.mark.parametrize("employees", [5000, 20000])
def test_the_first_year_raises_as_many_as_the_second(planwise_run, employees):
    """One tenure rule for census and simulated people: the first simulated year has no census artifact (before
    it, 19 % of the census had tenure 0 in 2025 and got no raise: 3,370 raises against 4,203 in 2026)."""
    run = planwise_run(employees=employees)  # the default years, shared with the invariant tests
    assert run.status == "success", run.stderr
    raises = dict(run.query("select simulation_year, count(*) from fct_yearly_events where event_type = 'raise' "
                            "and simulation_year in (2025, 2026) group by simulation_year"))
    assert abs(raises[2025] / raises[2026] - 1) <= 0.05, raises  # headcount itself grows 3 % a year
