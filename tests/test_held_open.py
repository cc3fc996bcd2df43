"""`held_open`: while a run holds its database file, dbt-duckdb's connect and the orchestrator's `connect` reach the
one held DuckDB instance; after the block (even a failed one) the file is released whole, its writes in it.
Real DuckDB files under tmp_path, a real second process."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from navigator_orchestrator.dbt_layer.held_open import connect, held_open


def databases(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The instance's attached databases: an ATTACH through one connection shows in every connection of it."""
    return {name for (name,) in con.execute("select database_name from duckdb_databases()").fetchall()}


def test_while_held_every_connection_of_the_file_is_the_held_instance(tmp_path):
    path = tmp_path / "sim.duckdb"
    duckdb.connect(str(path)).close()
    with held_open(path):
        # what dbt-duckdb's Environment.initialize_db calls: the path, read-write, its (empty) config
        with duckdb.connect(str(path), read_only=False, config={}) as dbt_side:
            dbt_side.execute("attach ':memory:' as probe")
            dbt_side.execute("create table written_by_dbt as select 42 as answer")
        # read_only asked for: one instance has one mode, so the held one answers (a new read-only instance of
        # a file this process holds read-write is refused: "different configuration")
        with connect(tmp_path / "." / "sim.duckdb", read_only=True) as ours:
            assert "probe" in databases(ours)
            ours.execute("insert into written_by_dbt values (43)")
    with duckdb.connect(str(path), read_only=True) as after:  # the instance is gone: a read-only one opens
        assert "probe" not in databases(after)
        assert after.execute("select list(answer order by answer) from written_by_dbt").fetchone() == ([42, 43],)


def test_a_failed_block_releases_the_file_to_other_processes(tmp_path):
    path = tmp_path / "sim.duckdb"
    with pytest.raises(RuntimeError, match="a year failed"):
        with held_open(path):
            with connect(path) as con:
                con.execute("create table t as select 1 as x")
            raise RuntimeError("a year failed")
    other = subprocess.run([sys.executable, "-c", "import duckdb, sys\n"
                            "con = duckdb.connect(sys.argv[1])\n"
                            "print(con.execute('select x from t').fetchone()[0])", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 0 and other.stdout == "1\n", other.stderr


def test_without_a_hold_connect_opens_the_file_as_asked(tmp_path):
    path = tmp_path / "sim.duckdb"
    duckdb.connect(str(path)).close()
    with connect(path, read_only=True) as con:
        with pytest.raises(duckdb.InvalidInputException, match="read-only mode"):
            con.execute("create table t as select 1 as x")
