"""The fixtures `run` and `ensemble` that tests/test_report.py and tests/test_workbook.py both import (each built
once per pytest invocation by the plugin's session fixtures), and the figures they compare with, read here
from the run's own files and tables, never through `navigator_orchestrator.deliverables`."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from navigator_orchestrator.inputs.paths import PROJECT_ROOT

SCENARIOS = [PROJECT_ROOT / "scenarios" / "default.yaml", PROJECT_ROOT / "scenarios" / "rich_match.yaml"]
CHANGED = {"employer_match.rate": 0.75}  # one assumption moved from its default (besides the years)
YEAR = 2027


@pytest.fixture(scope="module")
def run(planwise_run):
    """A run of 2025-2027 on 1,000 people (a test module imports this fixture)."""
    finished = planwise_run(years="2025-2027", employees=1000, overrides=CHANGED)
    assert finished.status == "success", finished.stderr
    return finished


@pytest.fixture(scope="module")
def ensemble(planwise_ensemble):
    """default and rich_match x seeds 1-2 x 2025-2027 on 200 people, paired against default."""
    built = planwise_ensemble(scenarios=SCENARIOS, seeds="1-2", years="2025-2027", employees=200,
                              baseline="default")
    assert built.returncode == 0, built.stderr
    return built


def summary_file(run) -> dict:
    """The run's summary.json, read from the file beside its database."""
    (path,) = (run.db_path.parent / "artifacts" / "runs").glob("*/summary.json")
    return json.loads(path.read_text(encoding="utf-8"))


def year_metrics(summary: dict, year: int) -> dict:
    return next(y["metrics"] for y in summary["years"] if y["year"] == year)


def cent(value) -> Decimal:
    """A number to the cent, from its exact decimal text (a float from a workbook through its repr)."""
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(Decimal("0.01"))
