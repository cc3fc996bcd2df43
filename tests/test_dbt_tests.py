"""The dbt project's own tests, one pytest item each, on the default run; a failure prints the failing rows."""

import pytest


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
