"""Quality gates: each check catches its own corruption with the failing rows in hand, a check that
raises or gives no verdict fails closed, warnings never stop a run, `planwise check` runs the same gates on a
database, and dbt's tag:critical tests work from dbt/ on the database a run left."""

import json

import duckdb
import pytest

from navigator_orchestrator.inputs.config import load_config
from navigator_orchestrator.errors import SimulationError
from navigator_orchestrator.safety.masking import MASK
from navigator_orchestrator.run.quality import CHECKS, CHECKS_BY_NAME, Check, CheckResult, Verdict, evaluate, record
from pytest_planwise.commands import planwise_command
from support.commands import plain_dbt

pytestmark = pytest.mark.quality

YEARS = "2025-2026"
EMPLOYEES = 1000
VICTIM = ("select employee_id from fct_workforce_snapshot where simulation_year = 2026 and employment_status = "
          "'active' and is_enrolled_flag and current_deferral_rate > 0 order by employee_id limit 1")

# check -> the corruption (SQL on a copy of a good database) that it, and only it, must catch
CORRUPTIONS = {
    "workforce_count": f"delete from fct_workforce_snapshot where simulation_year = 2026 and employee_id = ({VICTIM})",
    "null_comp_count": "update fct_workforce_snapshot set prorated_annual_compensation = null "
                       f"where simulation_year = 2026 and employee_id = ({VICTIM})",
    "hires_needed_vs_made": "delete from fct_yearly_events where simulation_year = 2026 and employee_id = "
                            "'NH_2026_000001' and event_type = 'hire'",
    "avg_compensation": "update fct_workforce_snapshot set current_compensation = current_compensation * 1.3 "
                        "where simulation_year = 2026 and employment_status = 'active'",
    "contribution_coverage": "update fct_workforce_snapshot set employee_contribution = 0 "
                             f"where simulation_year = 2026 and employee_id = ({VICTIM})",
    "events_inside_year": "update fct_yearly_events set effective_date = date '2027-01-05' where simulation_year = "
                          "2026 and event_type = 'raise' and employee_id = (select min(employee_id) from "
                          "fct_yearly_events where simulation_year = 2026 and event_type = 'raise')",
    "irs_limit": "update fct_workforce_snapshot set employee_contribution = 99999 "
                 f"where simulation_year = 2026 and employee_id = ({VICTIM})",
}


# The employer-money account checks, on a run whose core account vests graded_2_to_6 (so leavers forfeit money in
# 2026 and 2027, and 2027 uses the forfeitures carried in from 2026): case -> (check, year the gate catches it, the
# corruption with `?` for the victim, the victim's query or None for a whole-year problem, a piece of the reason).
ACCOUNT_YEARS = "2025-2027"
ACCOUNT_OVERRIDES = {"vesting.core.schedule": "graded_2_to_6"}
ACCOUNT_CHECKS = ("account_continuity", "vested_within_balance", "forfeited_only_by_leavers",
                  "forfeitures_used_within_available")
CARRIES_MONEY = ("select a.employee_id from fct_employer_accounts a join fct_workforce_snapshot s using (employee_id, "
                 "simulation_year) where a.simulation_year = {year} and a.source = 'core' and a.closing_balance > 0 "
                 "and s.employment_status = 'active' order by a.employee_id limit 1")
FORFEITER = ("select employee_id from fct_employer_accounts where simulation_year = 2027 and source = 'core' and "
             "forfeited_amount > 0 order by employee_id limit 1")
ACCOUNT_CORRUPTIONS = {
    "prior_closing_changed": ("account_continuity", 2027, "update fct_employer_accounts set closing_balance = "
                              "closing_balance + 100 where simulation_year = 2026 and source = 'core' and "
                              "employee_id = ?", CARRIES_MONEY.format(year=2026), "but closed 2026 at"),
    "account_dropped": ("account_continuity", 2027, "delete from fct_employer_accounts where simulation_year = 2027 "
                        "and source = 'core' and employee_id = ?", CARRIES_MONEY.format(year=2026),
                        "but no core account in 2027"),
    "vested_above_balance": ("vested_within_balance", 2027, "update fct_employer_accounts set vested_balance = "
                             "opening_balance + contributions + earnings + 0.01 where simulation_year = 2027 and "
                             "source = 'core' and employee_id = ?", CARRIES_MONEY.format(year=2027),
                             "above opening + contributions + earnings"),
    "vested_percent_above_100": ("vested_within_balance", 2026, "update fct_employer_accounts set vested_percent = 120 "
                                 "where simulation_year = 2026 and source = 'match' and employee_id = ?",
                                 CARRIES_MONEY.format(year=2026), "vested_percent 120.0000 outside 0..100"),
    "stayer_forfeits": ("forfeited_only_by_leavers", 2027, "update fct_employer_accounts set forfeited_amount = 50 "
                        "where simulation_year = 2027 and source = 'core' and employee_id = ?",
                        CARRIES_MONEY.format(year=2027), "but the 2027 snapshot has no termination_date"),
    "negative_forfeiture": ("forfeited_only_by_leavers", 2027, "update fct_employer_accounts set forfeited_amount = "
                            "-forfeited_amount where simulation_year = 2027 and source = 'core' and employee_id = ?",
                            FORFEITER, "not an amount >= 0"),
    "used_above_available": ("forfeitures_used_within_available", 2027, "update fct_employer_cost set "
                             "forfeitures_used = forfeitures_available + 1 where simulation_year = 2027", None,
                             "forfeitures available in 2027"),
    "negative_used": ("forfeitures_used_within_available", 2026, "update fct_employer_cost set forfeitures_used = -1 "
                      "where simulation_year = 2026", None, "forfeitures_used -1.00, not an amount >= 0"),
}


@pytest.fixture(scope="module")
def good_run(planwise_run):
    run = planwise_run(years=YEARS, employees=EMPLOYEES)
    assert run.status == "success", run.stderr
    return run


@pytest.fixture(scope="module")
def account_run(planwise_run):
    run = planwise_run(years=ACCOUNT_YEARS, employees=EMPLOYEES, overrides=ACCOUNT_OVERRIDES)
    assert run.status == "success", run.stderr
    return run


def corrupt_accounts(db, case):
    """Apply ACCOUNT_CORRUPTIONS[case] to `db`: the victim's id (None for a whole-year problem)."""
    check, year, sql, victim_sql, reason = ACCOUNT_CORRUPTIONS[case]
    with duckdb.connect(str(db)) as con:
        victim = con.execute(victim_sql).fetchone()[0] if victim_sql else None
        assert con.execute(sql, [victim] if victim_sql else []).fetchone() == (1,)  # one row changed
    return victim


def test_every_check_has_a_corruption_that_catches_it():
    assert set(CORRUPTIONS) | {check for check, *_ in ACCOUNT_CORRUPTIONS.values()} == set(CHECKS_BY_NAME)
    assert set(ACCOUNT_CHECKS) <= set(CHECKS_BY_NAME) and set(ACCOUNT_CHECKS).isdisjoint(CORRUPTIONS)
    assert all(CHECKS_BY_NAME[name].severity == "error" for name in ACCOUNT_CHECKS)
    assert {c.severity for c in CHECKS} == {"error", "warn"} and all(c.hint for c in CHECKS)


def test_a_good_run_passes_every_gate(good_run, planwise_quality):
    results = planwise_quality(good_run)
    assert [(r.year, r.check) for r in results] == [(y, c.name) for y in (2025, 2026) for c in CHECKS]
    assert all(r.status == "pass" for r in results), [r.line() for r in results if r.status != "pass"]
    coverage = next(r for r in results if r.check == "contribution_coverage" and r.year == 2026)
    assert coverage.figures["contributors"] > 0  # the number of contributors is recorded


@pytest.mark.parametrize("check", sorted(CORRUPTIONS))
def test_each_corruption_is_caught_by_its_check_only(good_run, planwise_isolated_db, planwise_quality, check):
    db = planwise_isolated_db(good_run)
    with duckdb.connect(str(db)) as con:
        victim = con.execute(VICTIM).fetchone()[0]
        con.execute(CORRUPTIONS[check])
    failed = [r for r in planwise_quality(db) if r.status != "pass"]
    assert [(r.year, r.check, r.status) for r in failed] == [(2026, check, "fail")]
    (result,) = failed
    assert result.failing_count >= 1 and result.sample and {"employee_id", "reason"} <= set(result.sample[0])
    if VICTIM in CORRUPTIONS[check] and check != "workforce_count":  # a per-person check names the person
        assert result.sample[0]["employee_id"] == victim, result.sample
    assert result.blocks == (CHECKS_BY_NAME[check].severity == "error")


def test_a_vesting_run_with_forfeitures_passes_the_account_gates(account_run, planwise_quality):
    results = planwise_quality(account_run)
    assert [(r.year, r.check) for r in results] == [(y, c.name) for y in (2025, 2026, 2027) for c in CHECKS]
    assert all(r.status == "pass" for r in results), [r.line() for r in results if r.status != "pass"]
    forfeiting = dict(account_run.query("select simulation_year, count(*) from fct_employer_accounts "
                                        "where forfeited_amount > 0 group by all"))
    assert forfeiting.get(2026, 0) > 0 and forfeiting.get(2027, 0) > 0  # leavers forfeit: the checks have work
    ((used, available),) = account_run.query("select forfeitures_used, forfeitures_available from fct_employer_cost "
                                             "where simulation_year = 2027")
    assert 0 < used <= available  # the forfeitures carried into 2027 are used


@pytest.mark.parametrize("case", sorted(ACCOUNT_CORRUPTIONS))
def test_each_account_corruption_is_caught_by_its_check_only(account_run, planwise_isolated_db, planwise_quality,
                                                             case):
    check, year, _, victim_sql, reason = ACCOUNT_CORRUPTIONS[case]
    db = planwise_isolated_db(account_run)
    victim = corrupt_accounts(db, case)
    failed = [r for r in planwise_quality(db) if r.status != "pass"]
    assert [(r.year, r.check, r.status) for r in failed] == [(year, check, "fail")], [r.line() for r in failed]
    (result,) = failed
    assert result.failing_count == 1 and result.blocks
    assert result.sample[0]["employee_id"] == victim, result.sample  # the person (None: a whole-year problem)
    assert reason in result.sample[0]["reason"], result.sample
    assert "dbt run --select" in result.hint and f"simulation_year: {year}" in result.hint


def test_account_continuity_has_nothing_to_compare_in_the_first_year(account_run, planwise_isolated_db):
    db = planwise_isolated_db(account_run)
    with duckdb.connect(str(db)) as con:  # 2025 opens at the census balances: changed, there is no 2024 to compare
        con.execute("update fct_employer_accounts set opening_balance = opening_balance + 100 "
                    "where simulation_year = 2025")
        results = evaluate(con, "test", 2025, load_config(), (CHECKS_BY_NAME["account_continuity"],))
        rows = con.execute(CHECKS_BY_NAME["account_continuity"].sql, {"year": 2025}).fetchall()
    assert [(r.check, r.status, r.failing_count) for r in results] == [("account_continuity", "pass", 0)]
    assert rows == []  # the SQL itself returns no rows for the first year


def test_a_check_that_raises_or_gives_no_verdict_fails_closed(good_run, planwise_isolated_db):
    db = planwise_isolated_db(good_run)
    broken = (Check("raises", "warn", "select employee_id, reason from no_such_table", "fix it"),
              Check("no_verdict", "warn", "select 1 as n where $year > 0", "fix it"))
    with duckdb.connect(str(db)) as con:
        results = evaluate(con, "test", 2026, load_config(), broken)
    assert [(r.check, r.status, r.blocks) for r in results] == [("raises", "error", True), ("no_verdict", "error", True)]
    assert "no_such_table" in results[0].detail and "no verdict" in results[1].detail
    with pytest.raises(SimulationError, match=r"quality gate raises failed for 2026: check could not run"):
        Verdict(tuple(results)).enforce()


def test_a_warning_is_logged_with_its_sample_and_the_run_succeeds(planwise_run):
    run = planwise_run(years="2025-2025", employees=EMPLOYEES, quality__avg_compensation_max_change=0.0)
    assert run.status == "success", run.stderr
    (warned,) = [c for c in run.summary["quality"]["2025"] if c["status"] != "pass"]
    assert warned["check"] == "avg_compensation" and warned["severity"] == "warn" and warned["sample"]
    assert "allowed -5.0 % to 0.0 %" in warned["sample"][0]["reason"]
    assert "quality 2025 avg_compensation [warn]: 1 failing" in run.stdout  # on the console too
    lines = [json.loads(line) for line in open(run.summary["log_path"])]
    (logged,) = [line for line in lines if line["event"] == "quality_check" and line["status"] == "fail"]
    assert logged["level"] == "WARNING" and logged["sample"] == warned["sample"]


def test_planwise_check_runs_the_gates_on_a_database(good_run, planwise_isolated_db, tmp_path):
    db = planwise_isolated_db(good_run)
    done = planwise_command(["check", "--db", db], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("quality ")]) == 2 * len(CHECKS)
    assert "quality 2026 irs_limit [error]: ok" in lines

    with duckdb.connect(str(db)) as con:
        con.execute(CORRUPTIONS["null_comp_count"])
        victim = con.execute("select employee_id from fct_workforce_snapshot where simulation_year = 2026 and "
                             "prorated_annual_compensation is null").fetchone()[0]
    done = planwise_command(["check", "--db", db, "--years", "2026"], tmp_path)
    assert done.returncode == 1
    (error,) = done.stderr.splitlines()
    assert error.startswith(f"planwise: error: quality gate null_comp_count failed for 2026: 1 failing (first: {victim})")
    assert "(fix: " in error
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("select count(distinct run_id) from dq_results").fetchone()[0]
    assert runs == 3  # the run's own results, then each check's: history is appended, never rewritten

    done = planwise_command(["check", "--db", db, "--years", "2031"], tmp_path)
    assert done.returncode == 2 and "no simulated rows for 2031" in done.stderr


def test_planwise_check_stops_on_a_corrupted_prior_year_of_the_accounts(account_run, planwise_isolated_db, tmp_path):
    db = planwise_isolated_db(account_run)
    victim = corrupt_accounts(db, "prior_closing_changed")  # 2026's closing no longer what 2027 opens at
    done = planwise_command(["check", "--db", db], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    (error,) = done.stderr.splitlines()
    assert error.startswith(f"planwise: error: quality gate account_continuity failed for 2027: 1 failing "
                            f"(first: {victim}): core account opens 2027 at "), error
    assert "(fix: " in error and "fct_employer_accounts+" in error
    lines = done.stdout.splitlines()
    assert "quality 2026 account_continuity [error]: ok" in lines
    assert any(line.startswith("quality 2027 account_continuity [error]: 1 failing") for line in lines), lines


def damaged_copy(db, folder):
    """A copy of `db` with 8 KiB overwritten inside one column's data: the file, its catalog and the snapshot's years
    still read, a whole scan of the snapshot or the events meets DuckDB's corrupt-block error (the first of 63
    places through the file that does so)."""
    size = db.stat().st_size
    for place in range(1, 64):
        copy = folder / f"damaged_{place}.duckdb"
        copy.write_bytes(db.read_bytes())
        with copy.open("r+b") as handle:
            handle.seek(size * place // 64)
            handle.write(b"\x01" * 8192)
        try:
            with duckdb.connect(str(copy), read_only=True) as con:
                con.execute("select count(*) from duckdb_tables()").fetchall()
                con.execute("select distinct simulation_year from fct_workforce_snapshot").fetchall()
                for table in ("fct_workforce_snapshot", "fct_yearly_events"):
                    con.execute(f"select * from {table}").fetchall()
        except duckdb.Error as error:
            if "Corrupt database file" in str(error):
                try:
                    with duckdb.connect(str(copy), read_only=True) as con:
                        con.execute("select distinct simulation_year from fct_workforce_snapshot").fetchall()
                    return copy
                except duckdb.Error:
                    continue
    raise AssertionError(f"no place in {db} damaged only a column's data")


def test_planwise_check_on_a_damaged_file_says_to_restore_a_backup_and_writes_nothing(good_run, tmp_path):
    db = damaged_copy(good_run.db_path, tmp_path)
    before = db.read_bytes()
    done = planwise_command(["check", "--db", db], tmp_path)
    assert done.returncode == 1
    (error,) = done.stderr.splitlines()
    assert error.startswith("planwise: error: database error: Corrupt database file"), error
    assert error.endswith(f"(fix: if the database is damaged, restore a backup: `planwise backup restore --db {db}`)")
    assert "quality" not in done.stdout + done.stderr
    assert db.read_bytes() == before  # no dq_results row, nothing else


def test_dq_results_gets_every_result_appended_with_masked_samples(tmp_path):
    db = tmp_path / "masked.duckdb"
    secret = "password=hunter2-not-for-logs"
    results = [CheckResult("r", 2025, "c", "warn", "fail", 1, [{"employee_id": "E1", "reason": secret}]),
               CheckResult("r", 2025, "d", "error", "pass", 0, [])]
    with duckdb.connect(str(db)) as con:
        record(con, results)
        record(con, results[1:])
        rows = con.execute('select "check", status, failing_count, sample from dq_results order by all').fetchall()
    assert [row[:3] for row in rows] == [("c", "fail", 1), ("d", "pass", 0), ("d", "pass", 0)]
    assert "hunter2" not in rows[0][3] and f"password={MASK}" in rows[0][3]


def test_dbt_critical_tests_pass_on_a_run_and_name_the_failures_table(good_run, planwise_isolated_db, tmp_path):
    db = planwise_isolated_db(good_run)
    done = plain_dbt("test", "--select", "tag:critical", db=db, work=tmp_path / "dbt")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Completed successfully" in done.stdout
    done = plain_dbt("test", "--select", "int_hiring_events", db=db, work=tmp_path / "dbt")
    assert done.returncode == 0, done.stdout[-3000:]

    with duckdb.connect(str(db)) as con:  # a hire with no pay, planted in the mart and the hiring model
        con.execute("update fct_yearly_events set compensation_amount = null "
                    "where event_type = 'hire' and employee_id = 'NH_2026_000003'")
        con.execute("update int_hiring_events set compensation_amount = null where employee_id = 'NH_2026_000003'")
    done = plain_dbt("test", "--select", "tag:critical", db=db, work=tmp_path / "dbt")
    assert done.returncode == 1
    assert "Failure in test hire_compensation_not_null" in done.stdout
    assert "dbt_test__audit" in done.stdout and "hire_compensation_not_null" in done.stdout  # the failures table
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select employee_id from main_dbt_test__audit.hire_compensation_not_null").fetchall()
    assert rows == [("NH_2026_000003",)]
