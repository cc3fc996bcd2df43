"""Who gets each source of employer money (docs/simulation.md, Who gets employer money): hours, years of service
and the last-day rule, set for the match and the core apart, and a safe harbor match that may carry none of them.
"""

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pytest

from pytest_planwise import invariants as inv
from pytest_planwise.strategies import write_census
from support.people import census_row

STILL = {"compensation.merit_budget": 0.0, "compensation.cola_rate": 0.0, "workforce.total_termination_rate": 0.0,
         "simulation.target_growth_rate": 0.0, "promotion.base_rate": 0.0, "deferral_auto_escalation.enabled": False}
# id: hire date (years of service in 2025); everyone is paid $100,000 all of 2025 and defers 6 %, so the default
# match is 50 % x 6,000 = 3,000 and the flat 2 % core 2,000
PEOPLE = {"EMP_2024_000001": dt.date(2010, 3, 1),     # 15 years
          "EMP_2024_000002": dt.date(2021, 1, 1),     # 4 years
          "EMP_2024_000003": dt.date(2020, 12, 31)}   # 5 years: the first year that counts 5


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    rows = [census_row(f"100-05-{number:04d}", emp, dt.date(1980, 3, 1), hire, 100000, 0.06)
            for number, (emp, hire) in enumerate(PEOPLE.items(), 1)]
    return write_census(rows, tmp_path_factory.mktemp("eligibility") / "census.csv")


def test_each_source_has_its_own_years_of_service(planwise_run, census):
    run = planwise_run(years="2025-2025", census=census, overrides={
        **STILL, "employer_match.minimum_service_years": 5, "employer_core_contribution.minimum_service_years": 10})
    assert run.status == "success", run.stderr
    got = {emp: (match, core) for emp, match, core in run.query(
        "select employee_id, employer_match_amount, employer_core_amount from fct_workforce_snapshot")}
    money = [(Decimal(f"{match:.2f}"), Decimal(f"{core:.2f}")) for match, core in ((3000, 2000), (0, 0), (3000, 0))]
    assert [got[emp] for emp in PEOPLE] == money  # 15 years: both; 4: neither; 5: the match only


@pytest.mark.parametrize("last_day", [None, False])
def test_leavers_keep_the_match_only_without_a_last_day_rule(planwise_run, last_day):
    """A 1,000-person year with leavers: under the default last-day rule no leaver has a match; without it some do,
    and every sampled person's match and core equal employer_rules' recomputation (invariants 8 and 13)."""
    run = planwise_run(employees=1000, years="2025-2025", overrides={"employer_match.last_day_rule": last_day})
    assert run.status == "success", run.stderr
    (leavers_matched,) = run.query("select count(*) from fct_workforce_snapshot where employment_status = "
                                   "'terminated' and employer_match_amount > 0")[0]
    problems = inv.check_invariants(run, f"last_day_rule {last_day}")
    assert not problems, inv.report(problems)
    assert (leavers_matched > 0) == (last_day is False), leavers_matched


def test_a_safe_harbor_match_with_a_condition_is_refused(tmp_path):
    config = tmp_path / "plan.yaml"
    config.write_text("employer_match:\n  formula: safe_harbor_basic\n  last_day_rule: true\n")
    done = subprocess.run([sys.executable, "-m", "navigator_orchestrator.cli", "run", "--years", "2025-2025",
                           "--config", str(config), "--db", str(tmp_path / "simulation.duckdb")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "employer_match.last_day_rule" in line and "safe harbor" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.yaml"]
