"""Determinism (simulation.md invariant 10): the same census, config and seed give identical marts whatever the
thread count or the census row order; another seed chooses different people but keeps every quota total.

Runs are compared by content digest (navigator_orchestrator.safety.digest), never by file hash.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.safety.digest import marts_digest
from pytest_planwise.runs import census_file

pytestmark = pytest.mark.determinism

YEARS = range(2025, 2030)


def digests(run, years=YEARS) -> dict:
    """Per-year digests of both marts, plus the whole-table digests under key None."""
    assert run.status == "success", run.stderr
    return db_digests(run.db_path, years)


def db_digests(db: Path, years=YEARS) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        result = {year: marts_digest(con, year) for year in years}
        result[None] = marts_digest(con)
    for year in years:
        for table, (rows, _) in result[year].items():
            assert rows > 0, f"{table} has no rows for {year}"
    return result


def assert_same(first, second, years=YEARS) -> None:
    assert_same_digests(digests(first, years), digests(second, years), years)


def assert_same_digests(a: dict, b: dict, years=YEARS) -> None:
    for year in (*years, None):
        assert a[year] == b[year], f"year {year}: {a[year]} != {b[year]}"


def test_same_seed_twice_gives_identical_marts(planwise_run):
    first, replica = planwise_run(), planwise_run(replica=1)
    assert first.db_path != replica.db_path  # two independent builds, not the same file twice
    assert_same(first, replica)


PLANWISE = Path(sys.executable).with_name("planwise")  # the console script `pip install` made for this interpreter


# every behaviour and plan rule that draws or orders something: the match's pull both ways, prior-year testing,
# graded vesting with forfeitures reallocated in whole cents, and a return on the accounts
BEHAVIOUR = """\
match_response:
  enabled: true
  share_moving_up: 0.5
  share_moving_down: 0.3
nondiscrimination:
  testing_method: prior_year
vesting:
  core:
    schedule: graded_2_to_6
forfeitures:
  use: reallocate
accounts:
  annual_return: 0.04
voluntary_enrollment:
  enabled: true
  years_after_opt_out: 1
"""


def planwise_in_its_own_process(folder: Path, census: Path, threads: int, config: Path) -> Path:
    """`planwise run` of the default years and `config` on `census`, a program started afresh in `folder`; returns
    its database once the run succeeded and its dbt log shows it ran with `threads` threads."""
    folder.mkdir()
    db = folder / "simulation.duckdb"
    environment = {k: v for k, v in os.environ.items() if k not in ("DB_PATH", "PLANWISE_DB_PATH", "LOG_LEVEL")}
    done = subprocess.run([str(PLANWISE), "run", "--years", f"{YEARS[0]}-{YEARS[-1]}", "--census", str(census),
                           "--db", str(db), "--threads", str(threads), "--config", str(config)],
                          cwd=folder, env=environment, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    (dbt_log,) = (folder / "artifacts" / "runs").glob("*/dbt/logs/dbt.log")
    assert set(re.findall(r"Concurrency: (\d+) threads", dbt_log.read_text())) == {str(threads)}
    return db


def test_thread_count_does_not_change_the_marts(planwise_root, tmp_path):
    """One thread (dbt and DuckDB) against four, each run by the real CLI in a process of its own (nothing of
    one run, no import, cache or connection, is in the other's process), the default census and years, with every
    behaviour on (BEHAVIOUR: each of them is seen acting)."""
    census = census_file(planwise_root, 5000, 42)
    config = tmp_path / "behaviour.yaml"
    config.write_text(BEHAVIOUR)
    serial = planwise_in_its_own_process(tmp_path / "threads_1", census, 1, config)
    parallel = planwise_in_its_own_process(tmp_path / "threads_4", census, 4, config)
    assert_same_digests(db_digests(serial), db_digests(parallel))
    with duckdb.connect(str(serial), read_only=True) as con:
        moves = con.execute("select count(*) filter (where employee_deferral_rate > prev_employee_deferral_rate), "
                            "count(*) filter (where employee_deferral_rate < prev_employee_deferral_rate) "
                            "from fct_yearly_events where event_type = 'deferral_change'").fetchone()
        reallocated = con.execute("select count(*) from fct_employer_accounts where source = 'reallocation' "
                                  "and contributions > 0").fetchone()[0]
        prior = con.execute("select count(*) from fct_nondiscrimination where testing_method = 'prior_year' "
                            "and nhce_average <> current_nhce_average").fetchone()[0]
        returned = con.execute("select count(*) from fct_yearly_events v join fct_yearly_events o using (employee_id) "
                               "where v.event_category = 'voluntary_enrollment' "
                               "and o.event_type = 'enrollment_change' and v.simulation_year > o.simulation_year"
                               ).fetchone()[0]
    assert min(moves) > 0 and reallocated > 0 and prior > 0 and returned > 0, (moves, reallocated, prior, returned)


def _ids(run, where: str) -> dict[int, set[str]]:
    rows = run.query(f"select simulation_year, employee_id from fct_yearly_events where {where}")
    out: dict[int, set[str]] = {year: set() for year in YEARS}
    for year, employee_id in rows:
        out[year].add(employee_id)
    return out


_QUOTAS = """
select simulation_year,
       count(*) filter (event_type = 'hire') as hires,
       count(*) filter (event_type = 'termination' and event_category = 'experienced_termination') as experienced,
       count(*) filter (event_type = 'termination' and event_category = 'new_hire_termination') as new_hire_terms,
       (select count(*) from fct_workforce_snapshot s
         where s.simulation_year = e.simulation_year and s.employment_status = 'active') as end_headcount
from fct_yearly_events e group by simulation_year order by simulation_year
"""


def test_another_seed_chooses_other_people_with_the_same_quotas(planwise_run):
    base, other = planwise_run(), planwise_run(seed=43)
    base_digests, other_digests = digests(base), digests(other)
    for year in YEARS:
        assert base_digests[year] != other_digests[year], f"seed 43 gave the same {year} as seed 42"

    for what, where in [("experienced terminations", "event_category = 'experienced_termination'"),
                        ("promotions", "event_type = 'promotion'")]:
        chosen, chosen_other = _ids(base, where), _ids(other, where)
        for year in YEARS:
            assert chosen[year], f"no {what} in {year}"
            assert chosen[year] != chosen_other[year], f"seed 43 chose the same {what} in {year}"

    needs = "select * from int_workforce_needs order by simulation_year"
    assert [row[0] for row in base.query(needs)] == list(YEARS)
    assert base.query(needs) == other.query(needs)
    quotas = base.query(_QUOTAS)
    assert [row[0] for row in quotas] == list(YEARS)
    assert quotas == other.query(_QUOTAS)
    # the quota totals are the needs themselves, not merely equal between the two seeds
    by_year = {row[0]: row for row in quotas}
    with base.connect() as con:
        cursor = con.execute(needs)
        names = [c[0] for c in cursor.description]
        for row in cursor.fetchall():
            need = dict(zip(names, row))
            _, hires, experienced, new_hire_terms, end_headcount = by_year[need["simulation_year"]]
            assert (hires, experienced, new_hire_terms) == (
                need["total_hires"], need["experienced_terminations"], need["new_hire_terminations"])
            assert end_headcount == need["start_headcount"] - experienced + hires - new_hire_terms


def test_census_row_order_does_not_change_the_marts(planwise_run, tmp_path):
    normal = planwise_run(employees=1000, years="2025-2026")
    assert normal.status == "success", normal.stderr
    census = Path(normal.summary["census"]["path"])
    assert census.exists(), census
    reversed_census = tmp_path / "census_reversed.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_parquet('{census}') ORDER BY employee_id DESC) "
                    f"TO '{reversed_census}' (FORMAT parquet)")
        first = con.execute(f"SELECT employee_id FROM read_parquet('{reversed_census}') LIMIT 1").fetchone()[0]
        largest = con.execute(f"SELECT max(employee_id) FROM read_parquet('{census}')").fetchone()[0]
        original_first = con.execute(f"SELECT employee_id FROM read_parquet('{census}') LIMIT 1").fetchone()[0]
    assert first == largest != original_first  # the file really is in another order
    shuffled = planwise_run(employees=1000, years="2025-2026", census=reversed_census)
    assert shuffled.summary["census"]["fingerprint"] != normal.summary["census"]["fingerprint"]
    assert_same(normal, shuffled, years=range(2025, 2027))


def test_a_run_built_by_the_harness_equals_the_cli_in_its_own_process(planwise_run, tmp_path):
    """The plugin builds runs inside the test process; `planwise run` started as a program gives the same marts."""
    import subprocess
    import sys

    run = planwise_run(years="2025-2026", employees=1000)
    db = tmp_path / "simulation.duckdb"
    census = run.summary["census"]["path"]
    done = subprocess.run([sys.executable, "-m", "navigator_orchestrator.cli", "run", "--years", "2025-2026",
                           "--census", census, "--config", str(run.folder / "config.yaml"), "--db", str(db)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with run.connect() as harness, duckdb.connect(str(db), read_only=True) as program:
        assert marts_digest(harness) == marts_digest(program)
