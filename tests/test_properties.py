"""Property tests: for any config in the explored ranges (growth 0..0.2, termination 0.05..0.3, new-hire
termination 0..0.5, merit 0..0.1), on small generated censuses, every invariant of simulation.md section 6 holds.

Each example is one real run (a small census, two years); Hypothesis never runs dbt again for a value it has
already tried, because `planwise_run` builds each distinct input once per session.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_planwise.invariants import check_invariants, report
from pytest_planwise.strategies import census_rows, config_overrides, write_census

RUN_SETTINGS = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@RUN_SETTINGS
@given(overrides=config_overrides(), seed=st.integers(0, 10_000))
def test_invariants_hold_for_any_config_in_range(planwise_run, overrides, seed):
    run = planwise_run(years="2025-2026", employees=400, seed=seed, overrides=overrides)
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
