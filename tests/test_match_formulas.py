"""Match formulas on constructed people, through the real models (docs/simulation.md, Match formulas).

Everyone is paid $100,000 all of 2025 with no raise, promotion, leaver or escalation, so plan compensation is
exactly $100,000 and the deferral is the census rate x $100,000; each expected match below is worked out by hand
from the formula's tiers (a tier matches its rate of the deferral between the previous tier's up_to and its own).
"""

import dataclasses
import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from navigator_orchestrator.ensembles.scenarios import load_scenarios
from navigator_orchestrator.inputs.config import SimulationConfig
from navigator_orchestrator.inputs.paths import PROJECT_ROOT
from pytest_planwise import invariants as inv
from pytest_planwise.strategies import write_census
from support.people import census_row

STILL = {"compensation.merit_budget": 0.0, "compensation.cola_rate": 0.0, "workforce.total_termination_rate": 0.0,
         "simulation.target_growth_rate": 0.0, "promotion.base_rate": 0.0, "deferral_auto_escalation.enabled": False}
# id: (hire date, deferral rate); years of service in 2025 = 2025 - hire year
PEOPLE = {
    "EMP_2024_000001": (dt.date(2010, 3, 1), 0.03),    # exactly the first safe harbor tier
    "EMP_2024_000002": (dt.date(2010, 3, 1), 0.04),    # the acceptance person
    "EMP_2024_000003": (dt.date(2010, 3, 1), 0.05),    # exactly the top of the basic match
    "EMP_2024_000004": (dt.date(2010, 3, 1), 0.0501),  # just above it
    "EMP_2024_000005": (dt.date(2010, 3, 1), 0.06),
    "EMP_2024_000006": (dt.date(2010, 3, 1), 0.10),
    "EMP_2024_000007": (dt.date(2021, 1, 1), 0.06),    # 4 years of service in 2025
    "EMP_2024_000008": (dt.date(2020, 12, 31), 0.06),  # 5 years: the first year of the 5-year band
}
BASIC_BY_HAND = [3000, 3000 + 500, 3000 + 1000, 3000 + 1000, 4000, 4000, 4000, 4000]
EXPECTED = {
    "single_tier": {},  # today's default: 50 % of the deferral up to 6 % of pay
    "safe_harbor_basic": {},
    "tiered": {"employer_match.tiers": [{"rate": 1.0, "up_to": 0.03}, {"rate": 0.5, "up_to": 0.05}]},
    "safe_harbor_enhanced": {},
    "qaca": {},
    "service_tiered": {"employer_match.service_tiers": [{"min_years": 0, "tiers": [{"rate": 0.5, "up_to": 0.06}]},
                                                        {"min_years": 5, "tiers": [{"rate": 1.0, "up_to": 0.06}]}]},
}
BY_HAND = {
    "single_tier": [1500, 2000, 2500, 2505, 3000, 3000, 3000, 3000],
    "safe_harbor_basic": BASIC_BY_HAND,
    "tiered": BASIC_BY_HAND,
    "safe_harbor_enhanced": [3000, 4000, 4000, 4000, 4000, 4000, 4000, 4000],
    "qaca": [1000 + 1000, 1000 + 1500, 1000 + 2000, 1000 + 2005, 1000 + 2500, 3500, 3500, 3500],
    "service_tiered": [6000 * 3 / 6, 4000, 5000, 5010, 6000, 6000, 3000, 6000],
}


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    rows = [census_row(f"100-03-{number:04d}", emp, dt.date(1980, 3, 1), hire, 100000, rate)
            for number, (emp, (hire, rate)) in enumerate(PEOPLE.items(), 1)]
    return write_census(rows, tmp_path_factory.mktemp("match_formulas") / "census.csv")


def match_of(planwise_run, census, formula, extra=None):
    run = planwise_run(years="2025-2025", census=census,
                       overrides={**STILL, "employer_match.formula": formula, **EXPECTED[formula], **(extra or {})})
    assert run.status == "success", run.stderr
    got = dict(run.query("select employee_id, employer_match_amount from fct_workforce_snapshot "
                         "where simulation_year = 2025 and employment_status = 'active'"))
    return [got[emp] for emp in PEOPLE]


@pytest.mark.parametrize("formula", list(BY_HAND))
def test_each_formula_matches_the_hand_worked_cents(planwise_run, census, formula):
    assert match_of(planwise_run, census, formula) == [Decimal(f"{amount:.2f}") for amount in BY_HAND[formula]]


def test_the_dollar_cap_limits_each_persons_match(planwise_run, census):
    capped = match_of(planwise_run, census, "safe_harbor_basic", {"employer_match.max_match_amount": 3250})
    assert capped == [Decimal(f"{min(amount, 3250):.2f}") for amount in BASIC_BY_HAND]


# A default-sized population under each formula: every invariant holds, invariant 13 recomputing each sampled
# person's match with pytest_planwise.match_rules (written apart from the SQL).
POPULATION = {
    "safe_harbor_basic": {"employer_match.formula": "safe_harbor_basic"},
    "qaca_capped": {"employer_match.formula": "qaca", "employer_match.max_match_amount": 2000},
    "tiered": {"employer_match.formula": "tiered", "employer_match.tiers": [
        {"rate": 1.0, "up_to": 0.02}, {"rate": 0.5, "up_to": 0.04}, {"rate": 0.25, "up_to": 0.08}]},
    "service_tiered": {"employer_match.formula": "service_tiered", "employer_match.service_tiers": [
        {"min_years": 0, "tiers": [{"rate": 0.5, "up_to": 0.06}]},
        {"min_years": 5, "tiers": [{"rate": 1.0, "up_to": 0.03}, {"rate": 0.5, "up_to": 0.05}]},
        {"min_years": 10, "tiers": [{"rate": 1.0, "up_to": 0.06}]}]},
}


def population_run(planwise_run, name):
    run = planwise_run(employees=1000, years="2025-2026", overrides=POPULATION[name])
    assert run.status == "success", run.stderr
    return run


@pytest.mark.parametrize("name", list(POPULATION))
def test_every_invariant_holds_under_each_formula(planwise_run, name):
    ctx = inv.open_context(population_run(planwise_run, name), name)
    try:
        problems = [problem for invariant in inv.INVARIANTS for problem in invariant(ctx)]
        matched_years = {years for (years,) in ctx.rows(
            "select distinct simulation_year - year(employee_hire_date) from snap where employer_match_amount > 0")}
    finally:
        ctx.con.close()
    assert not problems, inv.report(problems)
    if name == "service_tiered":
        assert {0, 5, 10} <= matched_years, "nobody matched in a service band's first year"


def test_a_match_that_ignores_service_is_caught(planwise_run, planwise_isolated_db):
    """One sampled person with 10+ years given the first band's match (50 % up to 6 %) instead of their own: only
    invariant 13 reports it, naming them."""
    run = population_run(planwise_run, "service_tiered")
    shared = inv.open_context(run, "sample")
    try:
        sample = [(m.employee_id, m.year) for m in inv.recompute_money(shared)]
    finally:
        shared.con.close()
    copy = planwise_isolated_db(run)
    first_band = "round(least(employee_contribution, plan_compensation * 0.06) * 0.5, 2)"
    with duckdb.connect(str(copy)) as con:
        con.execute("create temp table sample_ids as select * from (values " +
                    ", ".join(f"('{emp}', {year})" for emp, year in sample) + ") t(employee_id, simulation_year)")
        target = con.execute(
            "select employee_id, simulation_year from fct_workforce_snapshot where (employee_id, simulation_year) in "
            "(select * from sample_ids) and simulation_year - year(employee_hire_date) >= 10 "
            f"and not annual_additions_limit_applied and employer_match_amount <> {first_band} order by 2, 1 limit 1"
        ).fetchone()
        assert target, "no sampled person with 10+ years whose match the first band would change"
        con.execute(f"update fct_workforce_snapshot set employer_match_amount = {first_band}, "
                    f"total_employer_contributions = {first_band} + employer_core_amount "
                    "where employee_id = $id and simulation_year = $y", {"id": target[0], "y": target[1]})
    ctx = inv.open_context(dataclasses.replace(run, db_path=copy), "corrupted")
    try:
        caught = {f.__name__: inv.report(f(ctx)) for f in inv.INVARIANTS}
    finally:
        ctx.con.close()
    # the accounts hold the match too: invariant 17 sees it in the match account's contributions
    assert {name for name, text in caught.items() if text} == {"invariant_13_match_and_core_recomputed",
                                                               "invariant_17_employer_accounts_recomputed"}, caught
    assert target[0] in caught["invariant_13_match_and_core_recomputed"]


def test_the_shipped_plan_design_scenarios_set_their_formulas():
    shipped = PROJECT_ROOT / "scenarios"
    names = ["safe_harbor_basic", "qaca", "service_tiered_match", "age_banded_core"]
    loaded = load_scenarios([shipped / f"{name}.yaml" for name in names], SimulationConfig())
    assert [(s.name, s.config.get("employer_match.formula"), s.config.get("employer_core_contribution.formula"))
            for s in loaded] == [("safe_harbor_basic", "safe_harbor_basic", "flat"), ("qaca", "qaca", "flat"),
                                 ("service_tiered_match", "service_tiered", "flat"),
                                 ("age_banded_core", "single_tier", "age_banded")]
    assert [years for years, _ in loaded[2].config.get("employer_match.service_tiers")] == [0, 5, 10]
    assert loaded[3].config.get("employer_core_contribution.bands") == ((0, 0.02), (40, 0.04), (55, 0.06))
