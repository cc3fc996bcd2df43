"""The team's plan as its tests run it: this project's config (config/simulation_config.yaml, which the planwise
plugin reads here), its census (the .parquet or .csv file in census/) or, while census/ holds none, a generated
census of EMPLOYEES people, over the config's first two years (widen YEARS for a fuller check, at the cost of time).

`plan_run` is built once per pytest session with the public API `planwise run` calls, and shared read-only."""

import pytest

import navigator_orchestrator as planwise
from navigator_orchestrator.inputs.paths import project_census

CONFIG = planwise.load_config()
YEARS = (CONFIG.start_year, min(CONFIG.end_year, CONFIG.start_year + 1))
EMPLOYEES = 500


@pytest.fixture(scope="session")
def plan_run(planwise_run):
    run = planwise_run(years=YEARS, census=project_census(), employees=EMPLOYEES)
    assert run.status == "success", f"the plan's run failed: {run.errors}\n{run.stderr[-3000:]}"
    return run
