"""The team's default scenario against its committed baseline (baselines/): any change of the per-year metrics
(headcounts, events, payroll, contributions) or of the marts fails with a drift table. When a change is intended,
`python -m pytest --update-baseline` rewrites the file, and the diff is reviewed like code."""

import pytest

from pytest_planwise.baseline import baseline_payload


@pytest.mark.baseline
def test_default_scenario_matches_baseline(plan_run, baseline):
    assert baseline == baseline_payload(plan_run)
