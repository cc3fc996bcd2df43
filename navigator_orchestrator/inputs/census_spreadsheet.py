"""An .xlsx census: one sheet of the workbook (the first, or the one named) read into staging's table `src`.

The sheet's first row holds the headers. Every cell becomes text, as a CSV's does, so that staging types and checks
every value in one place; a cell that is a real date (openpyxl gives a datetime) is written in the census map's
date format (ISO without one), so it reads back as that very date. openpyxl is the optional 'reports' extra.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from ..errors import CensusError
from .census import first_line, quote_ident

EXTRA = "pip install 'planwise-navigator[reports]'"
ISO = "%Y-%m-%d"


def load_sheet(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None, date_format: str | None) -> str:
    """Create table `src` (all text, in sheet order) from the sheet and return the sheet's name. A missing extra, a
    file that is no workbook, a missing sheet, a sheet without a header row or two columns under one header is a
    CensusError, one line."""
    name, headers, rows = _read(path, sheet, date_format or ISO)
    columns = ", ".join(f"r[{i + 1}] AS {quote_ident(header)}" for i, header in enumerate(headers))
    con.execute(f"CREATE TABLE src AS SELECT {columns} FROM (SELECT unnest(rows) AS r, generate_subscripts(rows, 1) "
                f"AS i FROM (SELECT ?::VARCHAR[][] AS rows)) ORDER BY i", [rows])
    return name


def _read(path: Path, sheet: str | None, date_format: str) -> tuple[str, list[str], list[list[str | None]]]:
    """(the sheet's name, its headers, its data rows as text), trailing empty rows and unnamed empty columns left
    out."""
    try:
        from openpyxl import load_workbook
    except ImportError:
        raise CensusError(f"census {path}: reading an .xlsx needs the 'reports' extra: {EXTRA}",
                          f"install it ({EXTRA}), or save the sheet as .csv") from None
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except OSError as err:
        raise CensusError(f"cannot read census {path}: {err.strerror or err}", "check the census path") from None
    except Exception as err:  # noqa: BLE001 - openpyxl raises many kinds (zip, XML, key errors) on a damaged file
        raise CensusError(f"cannot read census {path} as xlsx: {first_line(err)}",
                          "provide a workbook saved by Excel (.xlsx), or save the sheet as .csv") from None
    try:
        name = _sheet_name(path, book.sheetnames, sheet)
        cells = book[name]
        if not hasattr(cells, "iter_rows"):
            raise CensusError(f"census {path}: sheet {name!r} is a chart, not a sheet of cells",
                              "name the sheet that holds the census with --census-sheet")
        cells.reset_dimensions()  # read every cell there is, whatever size the file claims
        table = [[_text(value, date_format) for value in row] for row in cells.iter_rows(values_only=True)]
    except CensusError:
        raise
    except Exception as err:  # noqa: BLE001 - as above, for a sheet that breaks while it is read
        raise CensusError(f"cannot read census {path}, sheet {sheet or 'the first'}: {first_line(err)}",
                          "open and save it again in Excel, or save the sheet as .csv") from None
    finally:
        book.close()
    while table and not any(value is not None for value in table[-1]):
        table.pop()
    if not table:
        raise CensusError(f"census {path}: sheet {name!r} is empty, it has no header row",
                          "put the headers in the sheet's first row, or name the census sheet with --census-sheet")
    return (name, *_columns(path, name, table))


def _sheet_name(path: Path, names: list[str], sheet: str | None) -> str:
    if sheet is None:
        return names[0]
    if sheet not in names:
        raise CensusError(f"census {path} has no sheet {sheet!r} (its sheets: {', '.join(map(repr, names))})",
                          "name one of its sheets with --census-sheet (case matters)")
    return sheet


def _columns(path: Path, name: str, table: list[list[str | None]]) -> tuple[list[str], list[list[str | None]]]:
    """Headers and rows, each row as wide as the headers: an empty column without a header is left out, one with
    values but no header is named by its letter (`column F`); a header used twice is refused."""
    from openpyxl.utils import get_column_letter

    width = max(len(row) for row in table)
    rows = [row + [None] * (width - len(row)) for row in table]
    header, data = rows[0], rows[1:]
    keep = [i for i in range(width) if header[i] is not None or any(row[i] is not None for row in data)]
    headers = [(header[i] or "").strip() or f"column {get_column_letter(i + 1)}" for i in keep]
    seen: dict[str, int] = {}
    for position, text in zip(keep, headers):
        first = seen.setdefault(text.lower(), position)
        if first != position:
            raise CensusError(
                f"census {path}, sheet {name!r}: the header {text!r} is in columns {get_column_letter(first + 1)} "
                f"and {get_column_letter(position + 1)}", "give each column its own header")
    return headers, [[row[i] for i in keep] for row in data]


def _text(value: Any, date_format: str) -> str | None:
    """A cell as text: a date in `date_format`, a boolean as true/false, a number as Python writes it."""
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime(date_format)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
