"""The match's pull (docs/simulation.md "The match's pull") on the default census, through the real models: with a
100 %-of-4 % match, match_response moves half the participants deferring below 4 % up to it in the first year, and
the contributions follow. Automatic escalation is off: on Jan 1 it takes every census rate (3 % and up) to 4 % or
more, and the response acts on the rate in force after it, so with it on nobody is left below 4 % to move.
"""

import dataclasses
import math
from decimal import Decimal

import duckdb
import pytest

from navigator_orchestrator.inputs.paths import PROJECT_ROOT
from pytest_planwise import invariants as inv

PULL = {"employer_match.formula": "tiered", "employer_match.tiers": [{"rate": 1.0, "up_to": 0.04}],
        "deferral_auto_escalation.enabled": False}
SHARE = 0.5


@pytest.fixture(scope="module")
def runs(planwise_run):
    """The same seed without and with the response: only the movers may differ."""
    still = planwise_run(years="2025-2026", overrides=PULL)
    pulled = planwise_run(years="2025-2026", overrides={**PULL, "match_response.enabled": True,
                                                        "match_response.share_moving_up": SHARE})
    assert still.status == "success", still.stderr
    assert pulled.status == "success", pulled.stderr
    return still, pulled


def contributions(run, year: int) -> dict[str, tuple[Decimal, Decimal]]:
    return {emp: (deferral, match) for emp, deferral, match in run.query(
        "select employee_id, employee_contribution, employer_match_amount from fct_workforce_snapshot "
        "where simulation_year = ?", [year])}


def test_the_configured_share_of_participants_below_the_rate_moves_up_to_it(runs):
    _, pulled = runs
    # participants on Jan 1 2025 below 4 % (no escalation: their census rate)
    (below,) = pulled.query("""
        select count(*) from fct_workforce_snapshot s
        left join fct_yearly_events e on e.employee_id = s.employee_id and e.simulation_year = 2025
             and e.event_type = 'deferral_escalation'
        join raw_census c on c.employee_id = s.employee_id
        where s.simulation_year = 2025 and c.employee_deferral_rate > 0
          and coalesce(e.employee_deferral_rate, c.employee_deferral_rate) < 0.04""")[0]
    moves = pulled.query("select simulation_year, employee_deferral_rate, count(*), "
                         "count(*) filter (where prev_employee_deferral_rate < 0.04) from fct_yearly_events "
                         "where event_type = 'deferral_change' group by all")
    assert len(moves) == 1 and moves[0][:2] == (2025, Decimal("0.04"))  # first year only, all to 4 %
    moved = moves[0][2]
    assert moved == moves[0][3] and below > 100
    # each of the `below` moves with probability 0.5 (a keyed draw of its own), minus the few who leave before their
    # drawn day: within 4 standard deviations of the binomial count, sqrt(n x 0.5 x 0.5)
    assert abs(moved - SHARE * below) <= 4 * math.sqrt(below * SHARE * (1 - SHARE)), (moved, below)
    assert inv.check_invariants(pulled, "match response") == []


def test_the_movers_defer_more_and_get_as_much_more_match_and_nobody_else_changes(runs):
    still, pulled = runs
    movers = {emp for (emp,) in pulled.query("select employee_id from fct_yearly_events "
                                             "where event_type = 'deferral_change'")}
    before, after = contributions(still, 2025), contributions(pulled, 2025)
    assert before.keys() == after.keys()
    assert {emp for emp in before if before[emp] != after[emp]} == movers
    matched_rise = Decimal(0)
    for emp in movers:
        (deferral, match), (new_deferral, new_match) = before[emp], after[emp]
        assert new_deferral > deferral, emp
        if match == 0:  # a mover defers from Jan 1: no match means the match's conditions exclude them
            assert new_match == 0, emp
            continue
        # below 4 % of pay all year, every deferred dollar is matched 100 %: the match rises by the deferral's rise
        assert new_match - match == new_deferral - deferral, emp
        matched_rise += new_deferral - deferral
    rise = sum(after[emp][0] - before[emp][0] for emp in movers)
    totals = [run.query("select sum(employee_contribution), sum(employer_match_amount) from fct_workforce_snapshot "
                        "where simulation_year = 2025")[0] for run in (still, pulled)]
    assert totals[1][0] - totals[0][0] == rise > 0
    assert totals[1][1] - totals[0][1] == matched_rise > 0


def test_a_mover_left_out_is_caught_by_invariant_19(runs, planwise_isolated_db):
    _, pulled = runs
    copy = planwise_isolated_db(pulled)
    with duckdb.connect(str(copy)) as con:
        (emp,) = con.execute("select min(employee_id) from fct_yearly_events where event_type = 'deferral_change'"
                             ).fetchone()
        con.execute("delete from fct_yearly_events where event_type = 'deferral_change' and employee_id = ?", [emp])
    ctx = inv.open_context(dataclasses.replace(pulled, db_path=copy), "a mover left out")
    try:
        problems = "\n".join(inv.invariant_19_match_response(ctx))
    finally:
        ctx.con.close()
    assert emp in problems and "stored None" in problems, problems


def test_the_ensemble_pairs_a_rich_match_whose_cost_includes_the_deferrals_it_pulls_up(planwise_ensemble):
    """rich_match (100 % up to 6 %, with match_response) draws the same people as default: seed by seed it defers
    more in every year (the first year's movers keep their rate), so its match exceeds twice default's match on the
    same deferrals, and the ensemble prints the paired band of the net employer cost."""
    ensemble = planwise_ensemble([PROJECT_ROOT / "scenarios" / "default.yaml",
                                  PROJECT_ROOT / "scenarios" / "rich_match.yaml"], baseline="default")
    assert ensemble.returncode == 0, ensemble.stderr
    runs = {(r["scenario"], r["seed"], r["year"]): r for r in ensemble.runs()}
    for (scenario, seed, year), row in runs.items():
        if scenario == "rich_match":
            base = runs[("default", seed, year)]
            assert row["end_headcount"] == base["end_headcount"]
            assert row["employee_contributions"] > base["employee_contributions"]
            assert row["deferral_change_events"] > 0 if year == 2025 else row["deferral_change_events"] == 0
    paired = {r["year"]: r for r in ensemble.paired() if r["metric"] == "employee_contributions"
              and r["scenario"] == "rich_match"}
    assert paired[2025]["p5"] > 0 and paired[2026]["p5"] > 0
    assert "paired net employer cost rich_match - default, 2026: median " in ensemble.stdout
