"""A census map: which of a client's headers holds which census column, and how the client writes dates.

A client's file keeps its own headers (`Emp ID`, `DOB`) and date style (`03/15/1980`); the map, a small YAML file
kept beside it, says what each means, so the file is used as it was sent. The map is checked on its own first (an
unknown column, with the closest name; a bad date format), then against the file's headers (a mapped header the
file lacks, two headers for one column) and against the file's dates (one that is not in the stated format):
every problem of a stage is listed in one line, before anything is written.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..errors import CensusError, ConfigError
from .census import COLUMN_NAMES, COLUMNS, quote_ident
from .config import describe, read_yaml

KEYS = ("columns", "date_format")
DATE_COLUMNS = tuple(name for name, kind in COLUMNS if kind == "DATE")
#: The spreadsheet-style date tokens a date_format may use instead of strftime directives.
TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d"}
DIRECTIVES = ("%Y", "%m", "%d")
SHOWN_HEADERS = 12  # headers listed when a mapped one is missing and none is close


@dataclass(frozen=True)
class CensusMap:
    """A checked map: `columns` census column -> the file's header; `date_format` as strftime (None: ISO dates),
    `date_format_text` as the map wrote it (for messages)."""

    path: Path
    columns: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    date_format_text: str | None = None

    def apply(self, con: duckdb.DuckDBPyConnection, where: str) -> None:
        """Rename table `src`'s mapped headers to their census columns and read its text dates in `date_format`;
        `where` names the file (and sheet) in messages. Raise one CensusError listing every problem."""
        source = con.execute("SELECT column_name, column_type FROM (DESCRIBE src)").fetchall()
        types = dict(source)
        chosen, problems = self._headers(list(types), where)
        selected = {target: header for target, header in chosen.items() if header is not None}
        kept = [name for name, _ in source if name not in selected.values()]
        own = {_key(name): name for name in kept}
        if self.date_format:
            con.execute(f"CREATE TEMP MACRO census_map_date(v) AS CASE WHEN year(try_strptime(trim(v), "
                        f"{_literal(self.date_format)})) >= 1000 THEN try_strptime(trim(v), "
                        f"{_literal(self.date_format)})::DATE END")
        dated = {column: selected.get(column) or own.get(column) for column in DATE_COLUMNS}
        text_dates = {column: header for column, header in dated.items()
                      if header is not None and types[header] == "VARCHAR" and self.date_format}
        problems += self._date_problems(con, text_dates, where)
        if problems:
            raise _map_error(self.path, problems)
        dates = set(text_dates.values())
        columns = [f"{_value(header, dates)} AS {quote_ident(target)}" for target, header in selected.items()]
        columns += [f"{_value(name, dates)} AS {quote_ident(name)}" for name in kept]
        con.execute(f"CREATE TABLE mapped AS SELECT {', '.join(columns)} FROM src ORDER BY rowid")
        con.execute("DROP TABLE src")
        con.execute("ALTER TABLE mapped RENAME TO src")

    def _headers(self, names: list[str], where: str) -> tuple[dict[str, str | None], list[str]]:
        """Each mapped column's header as the file spells it (None where it is missing), and the problems."""
        by_key = {_key(name): name for name in names}
        chosen: dict[str, str | None] = {}
        problems = []
        unguessed = False
        for target, header in self.columns.items():
            chosen[target] = by_key.get(_key(header))
            if chosen[target] is None:
                guess = _suggestion(header, names, "", "; did you mean {}?")
                unguessed |= not guess
                problems.append(f"columns.{target}: header {header!r} is not in {where}{guess}")
        if unguessed:  # the file's headers, once, for the headers no name comes close to
            problems.append(f"the headers of {where} are {_listed(names)}")
        taken = set(chosen.values())
        for target, header in chosen.items():
            own = by_key.get(_key(target))
            if header is not None and own is not None and own != header and own not in taken:
                problems.append(f"columns.{target}: two headers for one column, {header!r} (mapped) and {own!r} "
                                f"in {where}; map one, or rename or remove the other")
        return chosen, problems

    def _date_problems(self, con: duckdb.DuckDBPyConnection, text_dates: dict[str, str], where: str) -> list[str]:
        """Per date column, how many filled cells are not dates in the map's format, and the first one's row."""
        if not text_dates:
            return []
        bad = [f"nullif(trim({quote_ident(h)}), '') IS NOT NULL AND {_value(h, {h})} IS NULL"
               for h in text_dates.values()]
        checks = ", ".join(f"count(*) FILTER ({b}), min(rowid) FILTER ({b}) + 1" for b in bad)
        found = con.execute(f"SELECT {checks} FROM src").fetchone()
        problems = []
        for index, (column, header) in enumerate(text_dates.items()):
            count, first = found[2 * index], found[2 * index + 1]
            if count:
                named = column if _key(header) == column else f"{column} (header {header!r})"
                are = "values are" if count > 1 else "value is"
                problems.append(f"{named}: {count:,} {are} not a date written as {self.date_format_text} in "
                                f"{where}, the first at data row {first}")
        return problems


def load_census_map(path: Path | str) -> CensusMap:
    """Read and check a map file: known keys, known census columns (with the closest name), one header each as
    text, a readable date_format. Raise one CensusError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise _map_error(path, ["is a folder, not a map file" if path.is_dir() else "file not found"],
                         "check the --census-map path")
    try:
        data, problems = read_yaml(path)
    except ConfigError as error:
        raise _map_error(path, error.problems) from None
    if not isinstance(data, dict):
        raise _map_error(path, [f"expected a mapping with {' and '.join(KEYS)}, got {describe(data)}"])
    problems += [f"{key}: unknown key; {_suggestion(str(key), KEYS, 'the keys are ' + ' and '.join(KEYS))}"
                 for key in data if key not in KEYS]
    columns = _columns(data.get("columns"), problems)
    date_format = text = None
    if data.get("date_format") is not None:
        text = data["date_format"]
        date_format, why = strftime_format(text)
        if why:
            problems.append(f"date_format {describe(text)}: {why}")
    if "columns" not in data and "date_format" not in data:
        problems.append("says nothing: give columns (census column: the file's header), date_format, or both")
    if problems:
        raise _map_error(path, problems)
    return CensusMap(path, columns, date_format, text)


def strftime_format(text: Any) -> tuple[str | None, str | None]:
    """(the format as strftime directives, None), or (None, why it is not one): `%m/%d/%Y` as it is, `MM/DD/YYYY`
    translated; a four-digit year, a month and a day, each once, are required, and nothing else is read."""
    if not isinstance(text, str) or not text.strip():
        return None, "expected a format as text, e.g. '%m/%d/%Y' or 'MM/DD/YYYY'"
    if "%" in text:
        directives = re.findall(r"%.?", text)
        stray = sorted({d for d in directives if d not in (*DIRECTIVES, "%%")})
        if stray:
            return None, (f"{', '.join(stray)} cannot be read; use %Y (four-digit year), %m and %d, e.g. "
                          f"'%m/%d/%Y'")
        fmt = text
    else:
        fmt = re.sub("|".join(TOKENS), lambda match: TOKENS[match.group()], text)
        stray = re.sub(r"%[Ymd]", "", fmt)
        if re.search(r"[A-Za-z]", stray):
            return None, "use YYYY (four-digit year), MM and DD, e.g. 'MM/DD/YYYY', or strftime's %Y, %m and %d"
        directives = re.findall(r"%.", fmt)
    counts = {d: directives.count(d) for d in DIRECTIVES}
    if any(count != 1 for count in counts.values()):
        wrong = ", ".join(f"{d} {n} times" for d, n in counts.items() if n != 1)
        return None, f"needs a year (%Y or YYYY), a month and a day, each once ({wrong})"
    return fmt, None


def _columns(raw: Any, problems: list[str]) -> dict[str, str]:
    """{census column: header} of the map's `columns`, each problem (unknown column, not one header) noted."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"columns: expected a mapping of census column to the file's header, got {describe(raw)}")
        return {}
    columns = {}
    for target, header in raw.items():
        if target not in COLUMN_NAMES:
            known = "the census columns are " + ", ".join(COLUMN_NAMES)
            problems.append(f"columns.{target}: unknown census column; {_suggestion(str(target), COLUMN_NAMES, known)}")
        elif isinstance(header, list) and len(header) > 1:
            problems.append(f"columns.{target}: two headers for one column ({', '.join(map(repr, header))}); "
                            f"map the one that holds it")
        elif not isinstance(header, str) or not header.strip():
            problems.append(f"columns.{target}: expected the file's header as text, got {describe(header)}")
        else:
            columns[target] = header
    return columns


def _suggestion(name: str, candidates: list[str] | tuple[str, ...], otherwise: str,
                form: str = "did you mean {}?") -> str:
    """`form` naming the candidate spelled most like `name` (case ignored), else `otherwise`."""
    keys = {_key(c): c for c in candidates}
    close = difflib.get_close_matches(_key(name), list(keys), n=1, cutoff=0.6)
    return form.format(repr(keys[close[0]])) if close else otherwise


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN_HEADERS} more" if len(names) > SHOWN_HEADERS else ""
    return f"{', '.join(map(repr, names[:SHOWN_HEADERS]))}{more}"


def _map_error(path: Path, problems: list[str],
               fix: str = "correct the map, or the file's headers and dates (docs/census.md describes the map)"
               ) -> CensusError:
    return CensusError(f"census map {path}: {'; '.join(problems)}", fix)


def _key(name: str) -> str:
    """Headers match as staging matches census columns: case and surrounding spaces ignored."""
    return name.strip().lower()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(name: str, dates: set[str]) -> str:
    """A source column as SQL: read as a date in the map's format (macro census_map_date) if it is one of `dates`."""
    return f"census_map_date({quote_ident(name)})" if name in dates else quote_ident(name)
