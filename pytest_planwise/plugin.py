"""Entry point (pytest11): options, markers and report hooks; the fixtures come from their own modules."""

import tempfile
from pathlib import Path

import pytest

from .baseline import BaselineExtension
from .dbt_tests import list_dbt_tests
from .fixtures import parse_cache_folder
from .fixtures import (  # noqa: F401 - registered as fixtures
    DRIFT_TABLES,
    baseline,
    baseline_tolerances,
    planwise_dbt_tests,
    planwise_ensemble,
    planwise_isolated_db,
    planwise_parse_cache,
    planwise_quality,
    planwise_root,
    planwise_run,
)

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
    group.addoption("--baseline-dir", default=None,
                    help="folder of the baseline files (default: baselines/ under the rootdir)")
    group.addoption("--planwise-employees", type=int, default=5000,
                    help="size of the generated census runs use when no census is given (default 5000)")
    group.addoption("--planwise-census", default=None,
                    help="census file (PlanWise format) for runs instead of a generated one")
    group.addoption("--planwise-subprocess", action="store_true", default=False,
                    help="build runs with `python -m navigator_orchestrator.cli` in a child process "
                         "(default: the same CLI inside the test process, about 3 s faster per run)")
    group.addoption("--planwise-config", default=None,
                    help="base YAML config for runs (default: config/simulation_config.yaml)")
    group.addoption("--planwise-runs-dir", default=None, metavar="DIR",
                    help="keep the runs tests build in DIR and reuse them in later sessions while nothing they "
                         "depend on changed (their spec, config and census contents, PlanWise's code, the dbt "
                         "project, the Python, dbt and DuckDB versions); default: this session's temp folder only")


def pytest_configure(config):
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    directory = config.getoption("baseline_dir")
    BaselineExtension.directory = Path(directory).resolve() if directory else config.rootpath / "baselines"
    if config.getoption("update_baseline"):
        config.option.update_snapshots = True  # syrupy's update mode; each xdist worker configures itself


def pytest_generate_tests(metafunc):
    """A test taking `dbt_test_id` runs once per dbt test of the project, named after it."""
    if "dbt_test_id" not in metafunc.fixturenames or _deselected_by_marks(metafunc):
        return
    config = metafunc.config
    if not hasattr(config, "_planwise_dbt_tests"):  # parsed into the session's cache, as the session's runs are
        with tempfile.TemporaryDirectory(prefix="planwise-dbt-list-") as work:
            config._planwise_dbt_tests = list_dbt_tests(Path(work), parse_cache_folder(config))
    if not config._planwise_dbt_tests:  # an empty parametrization would only be skipped: say what is wrong
        from navigator_orchestrator.inputs.paths import DBT_DIR

        pytest.fail(f"{metafunc.definition.nodeid} runs once per dbt test (it takes dbt_test_id), but the dbt "
                    f"project {DBT_DIR} has no enabled test (dbt parse listed none). Fix: give its models "
                    f"data_tests in their YAML or add a test under its tests/ folder (and check that no "
                    f"`+enabled: false` turns them off), or deselect this test", pytrace=False)
    ids = [unique_id.split(".")[2] for unique_id in config._planwise_dbt_tests]
    metafunc.parametrize("dbt_test_id", config._planwise_dbt_tests, ids=ids)


def _deselected_by_marks(metafunc) -> bool:
    """True when `-m` will deselect this test anyway: then listing dbt's tests (a dbt parse) is skipped."""
    expression = metafunc.config.option.markexpr
    if not expression:
        return False
    from _pytest.mark import MarkMatcher  # pytest's own -m matcher, so the answer is the same as -m's
    from _pytest.mark.expression import Expression

    return not Expression.compile(expression).evaluate(MarkMatcher.from_markers(metafunc.definition.iter_markers()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed baseline comparison gets its whole drift table as a report section (never truncated)."""
    report = yield
    tables = item.stash.get(DRIFT_TABLES, [])
    if report.when == "call" and report.failed and tables:
        report.sections.append(("baseline drift", tables[-1]))
    return report
