"""Property tests: for any config drawn from the declared ranges of every simulated key (config.SCHEMA, negative
growth included; the years and seed are the run's arguments), on small generated censuses, every invariant of
simulation.md section 6 holds.

The tests at the end run the edges of three keys' declared ranges, where a rule of the design is hardest to keep:
a `new_hire_termination_rate` of 0.99 (the range ends there: at 1 the leaver quota is unreachable), and a
`salary_adjustment` of 3 or raises of 50 %, which must still give hire pay inside 0.5 x min .. 2 x max of the
band.

Each example is one real run (a small census, two years); Hypothesis never runs dbt again for a value it has
already tried, because `planwise_run` builds each distinct input once per session.
"""

import pytest
from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st

from navigator_orchestrator.inputs.config import SCHEMA, SimulationConfig
from navigator_orchestrator.errors import ConfigError
from pytest_planwise.invariants import (check_invariants, invariant_4_no_null_compensation_and_hire_pay_in_band,
                                        open_context, report)
from pytest_planwise.strategies import RUN_KEYS, census_rows, simulated_config_overrides, write_census

# 5 runs per property under the suite's profile (50 under --hypothesis-profile=explore, see conftest.py)
RUN_SETTINGS = settings(max_examples=settings.default.max_examples // 20, deadline=None,
                        suppress_health_check=[HealthCheck.function_scoped_fixture])
# the clamp of docs/simulation.md: growth so negative that G + T_exp < 0 gives 0 hires (every other key default)
DEFAULTS = {s.key: s.default for s in SCHEMA if s.simulated and s.key not in RUN_KEYS}
SHRINKING = {**DEFAULTS, "simulation.target_growth_rate": -0.5, "workforce.total_termination_rate": 0.1}
# a draw that once failed: with 60 people, seed 0 and 97.3 % leaving, nobody is continuous_active in both years, and
# invariant 5 asked for their pay growth anyway ("continuing-employee pay growth missing for some years: []")
NO_CONTINUING_PAIRS = {**DEFAULTS, "workforce.total_termination_rate": 0.973}


def test_every_simulated_key_is_drawn_inside_its_range():
    """The strategy covers the schema (a new key is explored once declared) and reaches negative growth."""
    drawn = find(simulated_config_overrides(), lambda values: values["simulation.target_growth_rate"] < 0)
    assert set(drawn) == {s.key for s in SCHEMA if s.simulated} - RUN_KEYS
    assert SimulationConfig().with_overrides(drawn).get("simulation.target_growth_rate") < 0  # valid as drawn


@RUN_SETTINGS
@given(overrides=simulated_config_overrides(), seed=st.integers(0, 10_000))
@example(overrides=SHRINKING, seed=42)
@example(overrides=NO_CONTINUING_PAIRS, seed=0)
def test_invariants_hold_for_any_config_in_range(planwise_run, overrides, seed):
    run = planwise_run(years="2025-2026", employees=60, seed=seed, overrides=overrides)
    assert run.status == "success", run.stderr
    problems = check_invariants(run, f"seed {seed}, {overrides}")
    assert not problems, report(problems)


@RUN_SETTINGS
@given(rows=census_rows(min_size=30, max_size=120))
def test_invariants_hold_for_any_small_census(planwise_run, tmp_path_factory, rows):
    census = write_census(rows, tmp_path_factory.mktemp("census") / "census.csv")
    run = planwise_run(years="2025-2026", census=census)
    assert run.status == "success", run.stderr
    problems = check_invariants(run, f"{len(rows)}-person census")
    assert not problems, report(problems)


def test_a_new_hire_termination_rate_the_quota_cannot_meet_is_rejected(planwise_run):
    edge = r"workforce.new_hire_termination_rate \(override\): expected a number in 0..0.99, got 0.999"
    with pytest.raises(ConfigError, match=edge):
        SimulationConfig().with_overrides({"workforce.new_hire_termination_rate": 0.999})
    run = planwise_run(years="2025-2025", employees=60, overrides={"workforce.new_hire_termination_rate": 0.99})
    assert run.status == "success", run.errors


@pytest.mark.parametrize("overrides", [{"new_hire.salary_adjustment": 3.0},
                                       {"compensation.merit_budget": 0.5, "compensation.cola_rate": 0.5}],
                         ids=["salary_adjustment_3", "merit_and_cola_0.5"])
def test_hire_pay_stays_in_the_band_at_the_declared_edges(planwise_run, overrides):
    run = planwise_run(years="2025-2027", employees=60, overrides=overrides)
    assert run.status == "success", run.stderr
    ctx = open_context(run, str(overrides))
    try:
        problems = invariant_4_no_null_compensation_and_hire_pay_in_band(ctx)
    finally:
        ctx.con.close()
    assert not problems, report(problems)
