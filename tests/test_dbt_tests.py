"""The dbt project's own tests, one pytest item each, on the default run; a failure prints the failing rows. A
project that lists no dbt test is a collection error, not a silently skipped test."""

import shutil
from pathlib import Path

import pytest

from navigator_orchestrator.inputs.paths import DBT_DIR, PROJECT_ROOT


@pytest.mark.quality
def test_dbt_test_passes_on_default_run(planwise_run, planwise_dbt_tests, dbt_test_id):
    outcome = planwise_dbt_tests(planwise_run())[dbt_test_id]
    assert outcome.passed, outcome.report()


@pytest.mark.quality
def test_planted_null_pay_hire_fails_its_dbt_test_with_the_employee_id(planwise_run, planwise_isolated_db,
                                                                        planwise_dbt_tests):
    import duckdb

    db = planwise_isolated_db(planwise_run())
    with duckdb.connect(str(db)) as con:
        victim = con.execute("select min(employee_id) from fct_yearly_events where event_type = 'hire' "
                             "and simulation_year = 2026").fetchone()[0]
        con.execute("update fct_yearly_events set compensation_amount = NULL "
                    "where employee_id = ? and event_type = 'hire'", [victim])
    outcomes = planwise_dbt_tests(db)
    failed = {key: outcome for key, outcome in outcomes.items() if not outcome.passed}
    assert [key.split(".")[2] for key in failed] == ["hire_compensation_not_null"]
    report = next(iter(failed.values())).report()
    assert victim in report and "1 failing row" in report
    untouched = planwise_dbt_tests(planwise_run())
    assert all(outcome.passed for outcome in untouched.values())


def test_a_project_without_dbt_tests_is_a_collection_error_naming_it(pytester, monkeypatch):
    """A checkout copy whose dbt project turns every test off (`+enabled: false`), on PYTHONPATH of a pytest session
    of its own (pytester, a child process) with one test taking `dbt_test_id`: the session stops with a collection
    error naming that project and the fix, instead of one skipped test ("got empty parameter set")."""
    root = pytester.path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", "target", "logs", "*.duckdb*", ".user.yml")
    for folder in ("navigator_orchestrator", "pytest_planwise", "config", "dbt"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder, ignore=ignore)
    project_file = root / "dbt" / "dbt_project.yml"
    text = project_file.read_text()
    assert "data_tests:\n  planwise:\n" in text and (DBT_DIR / "tests").is_dir()
    project_file.write_text(text.replace("data_tests:\n  planwise:\n", "data_tests:\n  planwise:\n    +enabled: false\n"))
    pytester.makepyfile(test_uses_dbt_tests="def test_each_dbt_test(dbt_test_id):\n    assert dbt_test_id\n")
    monkeypatch.setenv("PYTHONPATH", str(root))  # the copy's packages, hence its dbt/ (paths.DBT_DIR)
    monkeypatch.setenv("PLANWISE_PARSE_CACHE", str(pytester.path / "parse_cache"))  # not the session's cache
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR collecting test_uses_dbt_tests.py*",
        f"test_uses_dbt_tests.py::test_each_dbt_test runs once per dbt test (it takes dbt_test_id), but the dbt "
        f"project {Path(root / 'dbt')} has no enabled test (dbt parse listed none). Fix: *",
    ])
