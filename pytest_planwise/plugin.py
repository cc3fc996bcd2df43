"""Entry point (pytest11): options and markers. Fixtures live in their own modules."""

MARKERS = {
    "smoke": "fast end-to-end check: one simulated year runs and looks sane",
    "determinism": "same inputs give identical mart digests",
    "baseline": "compares per-year metrics with the committed files under baselines/",
    "quality": "data-quality checks and dbt tests",
    "resume": "checkpoint and resume behaviour",
    "slow": "long-running (several full runs or large censuses)",
}


def pytest_addoption(parser):
    group = parser.getgroup("planwise", "PlanWise Navigator simulation harness")
    group.addoption("--update-baseline", action="store_true", default=False,
                    help="rewrite the files under baselines/ with the current results")


def pytest_configure(config):
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
