"""`insert_rows` (quality results, an ensemble's runs and bands): every row arrives once, with its exact values,
whatever the number of rows against the chunk size, and none for an empty list."""

from decimal import Decimal

import duckdb
import pytest

from navigator_orchestrator.dbt_layer.inserts import insert_rows


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_every_row_arrives_once_with_its_values(count):
    rows = [[f"s'{i}", i, Decimal(i) / 8, None if i % 7 == 0 else i * 1.5] for i in range(count)]
    with duckdb.connect() as con:
        con.execute("create table t (name varchar, n bigint, share decimal(18,3), x double)")
        insert_rows(con, "t", rows)
        got = con.execute("select * from t order by n").fetchall()
    assert got == [tuple(row) for row in rows]
