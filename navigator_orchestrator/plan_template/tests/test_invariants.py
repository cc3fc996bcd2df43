"""The simulation's invariants on the team's plan (headcount quotas, event order, pay and contributions
recomputed independently, enrollment rules): each failure names the rows that break it."""

import pytest

from pytest_planwise.invariants import INVARIANTS, open_context, report


@pytest.fixture(scope="module")
def plan(plan_run):
    context = open_context(plan_run, "plan")
    yield context
    context.con.close()


@pytest.mark.parametrize("invariant", INVARIANTS, ids=lambda check: check.__name__)
def test_invariant_holds(plan, invariant):
    problems = invariant(plan)
    assert not problems, report(problems)
