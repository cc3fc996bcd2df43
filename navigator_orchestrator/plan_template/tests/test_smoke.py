"""Smoke (`python -m pytest -m smoke`): the plan runs end to end and every year keeps a workforce that hires,
pays and enrolls."""

import pytest


@pytest.mark.smoke
def test_the_plan_runs_and_each_year_looks_sane(plan_run):
    assert plan_run.returncode == 0 and plan_run.errors == []
    for year, metrics in sorted(plan_run.years.items()):
        assert metrics["end_headcount"] > 0, year
        assert metrics["hire_events"] > 0, year
        assert float(metrics["active_payroll"]) > 0, year
        assert 0 < float(metrics["participation_rate"]) <= 1, year
