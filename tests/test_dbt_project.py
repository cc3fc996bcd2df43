"""The dbt project works on its own, as dbt users expect: plain `dbt` from dbt/ against a planwise database."""

from decimal import ROUND_HALF_UP, Decimal

import duckdb

from navigator_orchestrator.safety.digest import marts_digest
from support.commands import plain_dbt


def test_plain_dbt_build_of_a_year_rebuilds_it_identically(planwise_run, planwise_isolated_db, tmp_path):
    run = planwise_run(years="2025-2026", employees=1000)
    db = planwise_isolated_db(run)
    with duckdb.connect(str(db), read_only=True) as con:
        before = {year: marts_digest(con, year) for year in (2025, 2026)}
    done = plain_dbt("build", "--vars", "{simulation_year: 2026}", db=db, work=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Completed successfully" in done.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        after = {year: marts_digest(con, year) for year in (2025, 2026)}
        years = [y for (y,) in con.execute("select distinct simulation_year from fct_workforce_snapshot order by 1")
                 .fetchall()]
    assert after == before  # rebuilding 2026 replaced exactly 2026's rows with the same content
    assert years == [2025, 2026]


def test_plain_dbt_run_of_one_model_with_vars(planwise_run, planwise_isolated_db, tmp_path):
    """Also: dbt finds the database's schema at the start of the invocation (dbt/macros/list_schemas.sql), so it
    does not create it again (dbt-duckdb's own lookup compares with the quoted name and never finds it)."""
    db = planwise_isolated_db(planwise_run(years="2025-2026", employees=1000))
    done = plain_dbt("run", "--select", "int_workforce_needs", "--vars",
                     "{simulation_year: 2026, simulation__target_growth_rate: 0.10}", "--log-level-file", "debug",
                     db=db, work=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        start, growth = con.execute("select start_headcount, target_net_growth from int_workforce_needs "
                                    "where simulation_year = 2026").fetchone()
    assert growth == int((Decimal(start) * Decimal("0.10")).quantize(Decimal(1), ROUND_HALF_UP))
    statements = (tmp_path / "logs" / "dbt.log").read_text()
    assert f"where lower(catalog_name) = '{db.stem}'" in statements
    assert "create schema" not in statements and "Creating schema" not in statements


def test_a_model_that_changed_kind_replaces_the_old_relation(planwise_run, planwise_isolated_db, tmp_path):
    """A database built before a model changed kind (int_merit_events a table, int_hiring_events a view): the next
    build replaces each with the model's kind, where DuckDB's `create or replace` alone would fail ('Existing
    object ... is of type Table, trying to replace with type View'), and rebuilds the year identically."""
    db = planwise_isolated_db(planwise_run(years="2025-2026", employees=1000))
    with duckdb.connect(str(db)) as con:
        before = marts_digest(con, 2026)
        con.execute("create table old_merit as select * from int_merit_events")
        con.execute("drop view int_merit_events")
        con.execute("alter table old_merit rename to int_merit_events")
        con.execute("create table old_hiring as select * from int_hiring_events")
        con.execute("drop table int_hiring_events")
        con.execute("create view int_hiring_events as select * from old_hiring")
    done = plain_dbt("run", "--vars", "{simulation_year: 2026}", db=db, work=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = dict(con.execute("select table_name, table_type from information_schema.tables "
                                 "where table_name in ('int_merit_events', 'int_hiring_events')").fetchall())
        assert kinds == {"int_merit_events": "VIEW", "int_hiring_events": "BASE TABLE"}
        assert marts_digest(con, 2026) == before
