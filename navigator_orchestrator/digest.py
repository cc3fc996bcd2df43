"""Content digests of tables: order-independent, so identical content gives identical digests.

DuckDB files are not byte-identical for identical content, so runs are compared by digest, never by file hash.
sum(md5_number_upper(row)) rather than bit_xor, which would cancel duplicate rows.
"""

import duckdb

MARTS = ("fct_yearly_events", "fct_workforce_snapshot")


def table_digest(con: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> tuple[int, int]:
    """(row count, sum of per-row md5 numbers) of `table` restricted by `where`."""
    count, total = con.execute(
        f"select count(*), coalesce(sum(md5_number_upper(t::VARCHAR)::HUGEINT), 0) from {table} t where {where}"
    ).fetchone()
    return int(count), int(total)


def marts_digest(con: duckdb.DuckDBPyConnection, year: int | None = None) -> dict[str, tuple[int, int]]:
    """Digests of both marts, for one simulation year or all of them."""
    where = "true" if year is None else f"simulation_year = {int(year)}"
    return {table: table_digest(con, table, where) for table in MARTS}
