"""Smoke: one simulated year of the default census runs and looks sane (what `pytest -m smoke` gates on)."""

import pytest


@pytest.mark.smoke
def test_one_year_runs_clean(planwise_run):
    run = planwise_run(years="2025-2025")
    assert run.status == "success", run.stderr
    assert run.returncode == 0
    assert run.errors == []
    metrics = run.years[2025]
    assert metrics["end_headcount"] > 0
    assert metrics["hire_events"] > 0
    assert run.query("select count(*) from fct_workforce_snapshot where simulation_year = 2025")[0][0] > 0
