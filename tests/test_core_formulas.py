"""Core formulas on constructed people, through the real models (docs/simulation.md, Core formulas).

Everyone works all of 2025 with no raise, promotion, leaver or escalation and defers nothing, so plan compensation
is their pay (capped at the 2025 401(a)(17) limit, $350,000) and 415(c) leaves the core whole; every expected core
below is worked out by hand. Ages are the engine's (age at the census date, Dec 31 2024); years of service are
2025 - hire year.
"""

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

import pytest

from pytest_planwise.strategies import write_census
from support.people import census_row

STILL = {"compensation.merit_budget": 0.0, "compensation.cola_rate": 0.0, "workforce.total_termination_rate": 0.0,
         "simulation.target_growth_rate": 0.0, "promotion.base_rate": 0.0, "deferral_auto_escalation.enabled": False}
# id: (birth date, hire date, pay): age in 2025, years of service in 2025
PEOPLE = {
    "EMP_2024_000001": (dt.date(1985, 1, 1), dt.date(2021, 1, 1), 100000),    # 39, 4
    "EMP_2024_000002": (dt.date(1984, 12, 31), dt.date(2020, 12, 31), 100000),  # 40 (first year of 40+), 5
    "EMP_2024_000003": (dt.date(1984, 12, 31), dt.date(2005, 6, 30), 176100),   # 40, 20: points 60; the wage base
    "EMP_2024_000004": (dt.date(1985, 1, 1), dt.date(2005, 6, 30), 250000),     # 39, 20: points 59
    "EMP_2024_000005": (dt.date(1970, 5, 5), dt.date(2015, 2, 1), 400000),      # 54, 10: plan pay 350,000
}
FORMULAS = {
    "integrated": {"employer_core_contribution.base_rate": 0.05, "employer_core_contribution.excess_rate": 0.10},
    "service_graded": {"employer_core_contribution.bands": [{"min": 0, "rate": 0.02}, {"min": 5, "rate": 0.04},
                                                            {"min": 10, "rate": 0.06}]},
    "age_banded": {"employer_core_contribution.bands": [{"min": 0, "rate": 0.01}, {"min": 40, "rate": 0.03}]},
    "points": {"employer_core_contribution.bands": [{"min": 0, "rate": 0.02}, {"min": 60, "rate": 0.05}]},
}
BY_HAND = {
    # 5 % up to the 2025 wage base of 176,100 (8,805), 10 % above it: 8,805 + 7,390 and 8,805 + 17,390
    "integrated": [5000, 5000, 8805, 16195, 26195],
    "service_graded": [0.02 * 100000, 0.04 * 100000, 0.06 * 176100, 0.06 * 250000, 0.06 * 350000],
    "age_banded": [0.01 * 100000, 0.03 * 100000, 0.03 * 176100, 0.01 * 250000, 0.03 * 350000],
    "points": [0.02 * 100000, 0.02 * 100000, 0.05 * 176100, 0.02 * 250000, 0.05 * 350000],  # 43, 45, 60, 59, 64
}


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    rows = [census_row(f"100-04-{number:04d}", emp, birth, hire, pay, 0.0)
            for number, (emp, (birth, hire, pay)) in enumerate(PEOPLE.items(), 1)]
    return write_census(rows, tmp_path_factory.mktemp("core_formulas") / "census.csv")


@pytest.mark.parametrize("formula", list(BY_HAND))
def test_each_core_formula_gives_the_hand_worked_cents(planwise_run, census, formula):
    run = planwise_run(years="2025-2025", census=census,
                       overrides={**STILL, "employer_core_contribution.formula": formula, **FORMULAS[formula]})
    assert run.status == "success", run.stderr
    got = dict(run.query("select employee_id, employer_core_amount from fct_workforce_snapshot "
                         "where simulation_year = 2025 and employment_status = 'active'"))
    assert [got[emp] for emp in PEOPLE] == [Decimal(f"{amount:.2f}") for amount in BY_HAND[formula]]


def test_an_integrated_core_beyond_the_permitted_disparity_is_refused(tmp_path):
    config = tmp_path / "plan.yaml"
    config.write_text("employer_core_contribution:\n  formula: integrated\n  base_rate: 0.05\n  excess_rate: 0.11\n")
    db = tmp_path / "simulation.duckdb"
    done = subprocess.run([sys.executable, "-m", "navigator_orchestrator.cli", "run", "--years", "2025-2025",
                           "--config", str(config), "--db", str(db)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "permitted disparity" in line and "excess_rate" in line and "at most 0.10" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.yaml"]


@pytest.mark.parametrize("formula", ["integrated", "flat"])
def test_a_projected_wage_base_is_said_once_only_when_the_core_reads_it(planwise_run, formula):
    overrides = {"employer_core_contribution.formula": formula, **FORMULAS.get(formula, {})}
    run = planwise_run(years="2025-2028", employees=200, overrides=overrides)
    assert run.status == "success", run.stderr
    reads_it = formula == "integrated"
    assert run.summary["projected_wage_base_years"] == ([2027, 2028] if reads_it else [])
    assert run.stdout.count("Social Security wage base: 2027-2028 use projected values") == int(reads_it)
    logged = [json.loads(line) for line in open(run.summary["log_path"])]
    assert [line["years"] for line in logged if line["event"] == "wage_base_projected"] == (
        [[2027, 2028]] if reads_it else [])
