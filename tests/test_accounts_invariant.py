"""Invariant 17 on a run where vesting matters: 1,000 generated people over 2025-2029, core vesting graded 2-to-6,
match on a 3-year cliff and a 5 % return, under each forfeitures.use. Leavers forfeit every year; every account
and cost row (and every year of vesting service) must equal pytest_planwise.accounts' recomputation, and every other
invariant must hold too.
"""

from decimal import Decimal

import pytest

from pytest_planwise import invariants as inv
from pytest_planwise.invariants import report

VESTING = {"vesting.core.schedule": "graded_2_to_6", "vesting.match.schedule": "cliff_3",
           "accounts.annual_return": 0.05}
YEARS = range(2025, 2030)


@pytest.mark.parametrize("use", ["reduce_employer_contributions", "reallocate", "pay_plan_expenses"])
def test_accounts_and_cost_equal_the_recomputation(planwise_run, use):
    run = planwise_run(years="2025-2029", employees=1000, overrides={**VESTING, "forfeitures.use": use})
    assert run.status == "success", f"{run.errors}\n{run.stderr[-3000:]}"
    assert sorted(run.years) == list(YEARS)
    for year in YEARS:
        metrics = run.years[year]
        assert Decimal(str(metrics["forfeitures"])) > 0, f"{use}: no forfeiture in {year}"
        gross = Decimal(str(metrics["employer_match"])) + Decimal(str(metrics["employer_core"]))
        net = Decimal(str(metrics["net_employer_cost"]))
        if year == YEARS[0]:
            assert net == gross, f"{use}: nothing carried into the first year, yet net {net} != gross {gross}"
        elif use == "reduce_employer_contributions":
            # the forfeitures of the year before pay part of this year's contributions
            assert net < gross, f"{use}: {year} net employer cost {net} not below gross {gross}"
        else:
            # paying expenses or reallocated to the accounts: no contribution is reduced
            assert net == gross, f"{use}: {year} net employer cost {net} != gross {gross}"
    problems = inv.check_invariants(run, f"vesting {use}")
    assert not problems, report(problems)
