"""Golden results: per-year metrics and mart digests of reference scenarios, committed under baselines/.

A change of results fails with a drift table; when the change is intended, `pytest -m baseline
--update-baseline` rewrites the files, which are then reviewed in the diff like code.
"""

import pytest

from pytest_planwise.baseline import baseline_payload

SCENARIOS = {
    "default": {},
    "all_eligible_auto_enrollment": {"enrollment__auto_enrollment__scope": "all_eligible_employees",
                                     "years": "2025-2027"},
}


@pytest.mark.baseline
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_matches_baseline(planwise_run, baseline, scenario):
    run = planwise_run(**SCENARIOS[scenario])
    assert run.status == "success", run.stderr
    assert baseline == baseline_payload(run)
