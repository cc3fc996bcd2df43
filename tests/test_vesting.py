"""Employer-money accounts, vesting and forfeitures on constructed people (docs/simulation.md "Vesting and
forfeitures"), through the real models; every amount derived by hand.

Two people alike, hired 2025-01-01 and paid $80,000, start 2027 with the $4,800 of core their first two years
earned (3 % of 80,000 twice) and defer 10 %. With 40 % leavers and a shrinking target, the workforce quotas (the
documented rule, pytest_planwise.invariants.workforce_quotas) make exactly one of them leave in 2027, nobody leave in
2028 and nobody be hired, so the leaver forfeits what is not vested in 2027 and the stayer's 2028 contributions
(core 2,400 + match 50 % of 8,000 up to 6 % of pay = 2,400) are what the forfeitures pay.
"""

import datetime as dt
from decimal import Decimal

import pytest

from navigator_orchestrator.ensembles.scenarios import load_scenarios
from navigator_orchestrator.inputs.config import SimulationConfig
from navigator_orchestrator.inputs.paths import PROJECT_ROOT
from pytest_planwise.invariants import workforce_quotas
from pytest_planwise.strategies import write_census
from support.people import census_row

PLAN = {"employer_core_contribution.rate": 0.03, "compensation.merit_budget": 0.0, "compensation.cola_rate": 0.0,
        "promotion.base_rate": 0.0, "deferral_auto_escalation.enabled": False,
        "workforce.total_termination_rate": 0.4, "simulation.target_growth_rate": -0.5,
        "workforce.new_hire_termination_rate": 0.0}
CORE_SO_FAR = Decimal("4800.00")  # 3 % x 80,000 in 2025 and in 2026


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    rows = [{**census_row(f"100-09-000{n}", f"EMP_2026_00000{n}", dt.date(1980, 5, 1), dt.date(2025, 1, 1), 80000,
                          0.10), "employer_core_balance": 4800, "employer_match_balance": 0}
            for n in (1, 2)]
    return write_census(rows, tmp_path_factory.mktemp("vesting") / "census.csv")


def test_the_premise_one_leaver_in_2027_none_after_and_no_hires():
    quotas_2027 = workforce_quotas(2, Decimal("-0.5"), Decimal("0.4"), Decimal(0))
    quotas_2028 = workforce_quotas(1, Decimal("-0.5"), Decimal("0.4"), Decimal(0))
    assert (quotas_2027["T_exp"], quotas_2027["H"], quotas_2028["T_exp"], quotas_2028["H"]) == (1, 0, 0, 0)


def simulate(planwise_run, census, **rules):
    run = planwise_run(years="2027-2028", census=census, overrides={**PLAN, **rules})
    assert run.status == "success", run.stderr
    return run


def leaver_and_stayer(run) -> tuple[str, str]:
    (leaver,) = run.query("select employee_id from fct_workforce_snapshot where termination_date is not null")[0]
    return leaver, next(emp for emp in ("EMP_2026_000001", "EMP_2026_000002") if emp != leaver)


def core_account(run, emp: str, year: int) -> tuple:
    return run.query("select opening_balance, contributions, vested_percent, vested_balance, forfeited_amount, "
                     "closing_balance from fct_employer_accounts where employee_id = ? and simulation_year = ? "
                     "and source = 'core'", [emp, year])[0]


def test_cliff_3_forfeits_the_whole_core_and_the_forfeiture_pays_next_years_contributions(planwise_run, census):
    run = simulate(planwise_run, census, **{"vesting.core.schedule": "cliff_3"})
    leaver, stayer = leaver_and_stayer(run)
    # two years of vesting service in 2027 (2027 - 2025): 0 % under a 3-year cliff; no core in 2027 (last day rule)
    assert core_account(run, leaver, 2027) == (CORE_SO_FAR, 0, 0, 0, CORE_SO_FAR, 0)
    # the stayer: 2027 core 2,400 on top, nothing forfeited
    assert core_account(run, stayer, 2027) == (CORE_SO_FAR, Decimal("2400.00"), 0, 0, 0, Decimal("7200.00"))
    assert core_account(run, stayer, 2028)[0] == Decimal("7200.00")  # the closing carried, to the cent
    y2027, y2028 = run.years[2027], run.years[2028]
    assert Decimal(y2027["forfeitures"]) == CORE_SO_FAR and Decimal(y2027["forfeitures_used"]) == 0
    assert Decimal(y2027["forfeiture_balance"]) == CORE_SO_FAR
    # 2028: match 2,400 + core 2,400 = 4,800, all of it paid by the 4,800 forfeited in 2027
    assert (Decimal(y2028["employer_match"]) + Decimal(y2028["employer_core"])) == Decimal("4800.00")
    assert Decimal(y2028["forfeitures_used"]) == CORE_SO_FAR
    assert Decimal(y2028["net_employer_cost"]) == 0 and Decimal(y2028["forfeiture_balance"]) == 0


def test_graded_2_to_6_vests_20_percent_after_two_years(planwise_run, census):
    run = simulate(planwise_run, census, **{"vesting.core.schedule": "graded_2_to_6"})
    leaver, _ = leaver_and_stayer(run)
    # 20 % vested: 960 kept, 80 % = 3,840 forfeited
    assert core_account(run, leaver, 2027) == (CORE_SO_FAR, 0, 20, Decimal("960.00"), Decimal("3840.00"),
                                               Decimal("960.00"))
    assert Decimal(run.years[2027]["forfeitures"]) == Decimal("3840.00")


def test_hours_service_counts_only_years_of_1000_hours(planwise_run, tmp_path):
    """2025 missed 1,000 hours (hired in August), 2026 counted: the census says 1 year. The leaver's 2027 counts
    only if 2,080 x days employed / 365 reaches 1,000: then 2 years (20 % under graded 2-to-6), else 1 (0 %)."""
    rows = [{**census_row(f"100-09-001{n}", f"EMP_2026_00001{n}", dt.date(1980, 5, 1), dt.date(2025, 8, 1), 80000,
                          0.10), "employer_core_balance": 4800, "vesting_service_years": 1} for n in (1, 2)]
    census = write_census(rows, tmp_path / "census.csv")
    run = simulate(planwise_run, census, **{"vesting.core.schedule": "graded_2_to_6", "vesting.service": "hours"})
    (leaver, left_on), = run.query("select employee_id, termination_date from fct_workforce_snapshot "
                                   "where termination_date is not null")
    days = (left_on - dt.date(2027, 1, 1)).days + 1
    vested = 20 if Decimal(2080 * days) / 365 >= 1000 else 0
    kept = CORE_SO_FAR * vested / 100
    assert core_account(run, leaver, 2027)[2:5] == (vested, kept, CORE_SO_FAR - kept)


@pytest.mark.parametrize("use", ["reduce_employer_contributions", "pay_plan_expenses"])
def test_forfeitures_above_next_years_contributions_carry_on_or_pay_expenses(planwise_run, tmp_path, use):
    """Each starts with $40,000 of core under a 3-year cliff: the leaver forfeits 40,000 in 2027. Reducing
    contributions, 2028's 4,800 are paid by it (net cost 0, never below) and 35,200 is carried into 2029; paying
    expenses, no contribution is reduced (net = gross) and the 40,000 goes to the expenses of 2028."""
    rows = [{**census_row(f"100-09-002{n}", f"EMP_2026_00002{n}", dt.date(1980, 5, 1), dt.date(2025, 1, 1), 80000,
                          0.10), "employer_core_balance": 40000} for n in (1, 2)]
    run = simulate(planwise_run, write_census(rows, tmp_path / "census.csv"),
                   **{"vesting.core.schedule": "cliff_3", "forfeitures.use": use})
    y2027, y2028 = run.years[2027], run.years[2028]
    assert Decimal(y2027["forfeitures"]) == Decimal("40000.00")
    gross_2028 = Decimal(y2028["employer_match"]) + Decimal(y2028["employer_core"])
    assert gross_2028 == Decimal("4800.00")
    if use == "reduce_employer_contributions":
        assert (Decimal(y2028["forfeitures_used"]), Decimal(y2028["net_employer_cost"]),
                Decimal(y2028["forfeiture_balance"])) == (Decimal("4800.00"), 0, Decimal("35200.00"))
    else:
        assert (Decimal(y2028["forfeitures_used"]), Decimal(y2028["net_employer_cost"]),
                Decimal(y2027["forfeiture_balance"])) == (0, gross_2028, Decimal("40000.00"))


def test_the_shipped_vesting_scenarios_set_their_schedules():
    loaded = load_scenarios([PROJECT_ROOT / "scenarios" / f"{name}.yaml" for name in ("cliff_3_core", "graded_match")],
                            SimulationConfig())
    assert [(s.name, s.config.get("vesting.core.schedule"), s.config.get("vesting.match.schedule")) for s in loaded] \
        == [("cliff_3_core", "cliff_3", "immediate"), ("graded_match", "immediate", "graded_2_to_6")]


def test_the_ensemble_pairs_the_net_cost_of_a_cliff_against_the_default(planwise_ensemble):
    """cliff_3_core draws the same people as default and pays the same match and core: seed by seed its net cost
    differs by exactly the forfeitures it used, none in the first year (forfeitures pay the next year's), and the
    ensemble prints that paired band."""
    ensemble = planwise_ensemble([PROJECT_ROOT / "scenarios" / "default.yaml",
                                  PROJECT_ROOT / "scenarios" / "cliff_3_core.yaml"], baseline="default")
    assert ensemble.returncode == 0, ensemble.stderr
    runs = {(r["scenario"], r["seed"], r["year"]): r for r in ensemble.runs()}
    used = {}
    for (scenario, seed, year), row in runs.items():
        if scenario == "cliff_3_core":
            base = runs[("default", seed, year)]
            assert row["employer_cost"] == base["employer_cost"] and base["forfeitures_used"] == 0
            assert row["net_employer_cost"] - base["net_employer_cost"] == -row["forfeitures_used"]
            used[year] = used.get(year, 0) + row["forfeitures_used"]
    assert used[2025] == 0 < used[2026]
    paired = {r["year"]: r for r in ensemble.paired() if r["metric"] == "net_employer_cost"
              and r["scenario"] == "cliff_3_core"}
    assert paired[2026]["p50"] < 0 == paired[2025]["p50"]
    assert "paired net employer cost cliff_3_core - default, 2026: median -" in ensemble.stdout
