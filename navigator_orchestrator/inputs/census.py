"""The census: a deterministic synthetic generator and the staging that turns an employer file into `raw_census`.

Staging runs entirely in an in-memory DuckDB connection, so a bad census is rejected before the simulation
database is touched; only `StagedCensus.write_to` writes to it. The file is a .parquet, a .csv or one sheet of an
.xlsx (census_spreadsheet.py), read as it is or through a census map of the client's headers and date format
(census_map.py).
"""

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from ..errors import CensusError

MONEY = "DECIMAL(12,2)"
RATE = "DECIMAL(7,4)"

# The PlanWise census format, in file order, with the type each column is staged as.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("employee_id", "VARCHAR"),
    ("employee_ssn", "VARCHAR"),
    ("employee_birth_date", "DATE"),
    ("employee_hire_date", "DATE"),
    ("employee_termination_date", "DATE"),
    ("employee_gross_compensation", MONEY),
    ("employee_capped_compensation", MONEY),
    ("employee_deferral_rate", RATE),
    ("employee_contribution", MONEY),
    ("pre_tax_contribution", MONEY),
    ("roth_contribution", MONEY),
    ("after_tax_contribution", MONEY),
    ("employer_core_contribution", MONEY),
    ("employer_match_contribution", MONEY),
    ("eligibility_entry_date", "DATE"),
    ("active", "BOOLEAN"),
    ("employer_match_balance", MONEY),
    ("employer_core_balance", MONEY),
    ("vesting_service_years", "INTEGER"),
)
#: Optional columns that open each person's employer-money accounts and vesting service, with what their absence
#: means, said once in the census report (groups of columns absent together share one line).
OPENING_COLUMNS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("employer_match_balance", "employer_core_balance"), "every account starts at 0"),
    (("employer_match_balance",), "every match account starts at 0"),
    (("employer_core_balance",), "every core account starts at 0"),
    (("vesting_service_years",), "completed years since hire"),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
REQUIRED = (
    "employee_id",
    "employee_ssn",
    "employee_birth_date",
    "employee_hire_date",
    "employee_termination_date",
    "employee_gross_compensation",
    "employee_deferral_rate",
    "active",
)
_OPENING_NAMES = frozenset(name for group, _ in OPENING_COLUMNS for name in group)
FORMATS = {".parquet": "parquet", ".csv": "csv", ".xlsx": "xlsx"}
SAMPLE_SIZE = 5

# Generator parameters (simulation.md 1.1).
LEVELS = ((0.35, 50_000, 70_000), (0.65, 65_000, 90_000), (0.85, 85_000, 120_000), (0.95, 110_000, 180_000),
          (1.00, 170_000, 350_000))  # (cumulative share, band low, band high)
COMP_CAP = 350_000  # 401(a)(17) style cap used for employee_capped_compensation
IRS_LIMIT, IRS_CATCH_UP_LIMIT = 23_000, 30_500  # 2024 402(g) totals; census contributions are informational
SSN_GROUPS, SSN_SERIALS = 99, 9999  # groups 01..99, serials 0001..9999: never the invalid 00 / 0000
SSN_SPACE = 800 * SSN_GROUPS * SSN_SERIALS  # areas 100..899; 9xx is left for new hires
SSN_STEP = 479_001_599  # prime, so `n * step mod space` is a bijection: unique SSNs without a lookup


# ---------------------------------------------------------------------------------------------- generator


def generate_census(employees: int, seed: int, out: Path, census_date: date = date(2024, 12, 31)) -> Path:
    """Write a synthetic census (Parquet, or CSV if `out` ends in .csv); same arguments, same content."""
    if isinstance(employees, bool) or not isinstance(employees, int) or employees < 1:
        raise CensusError(f"cannot generate a census of {employees!r} employees", "ask for at least 1 employee")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CensusError(f"census seed must be an integer, got {seed!r}", "pass an integer seed")
    out = Path(out)
    file_format = "csv" if out.suffix.lower() == ".csv" else "parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    options = "FORMAT csv, HEADER true" if file_format == "csv" else "FORMAT parquet"
    try:
        with _connect() as con:
            con.execute(f"COPY ({_generator_sql(employees, seed, census_date)}) TO {_quote(tmp)} ({options})")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _draw(seed: int, stream: str) -> str:
    """u(stream, i) of simulation.md section 7, as SQL over the row number `i`.

    The low 64 bits of md5_number are exactly md5_number_upper (DuckDB 2.0), computed about 4x faster.
    """
    upper = f"(md5_number(concat_ws('|', {seed}, '{stream}', i)) & {2**64 - 1}::UHUGEINT)::UBIGINT"
    return f"(({upper} >> 11)::DOUBLE / 9007199254740992.0)"


def _generator_sql(employees: int, seed: int, census_date: date) -> str:
    """One SELECT building every person from `range()`: scales to millions of rows without Python loops."""
    streams = ("age1", "age2", "birthday", "tenure", "level", "pay", "term", "term_date", "enroll", "rate")
    draws = ", ".join(f"{_draw(seed, s)} AS u_{s}" for s in streams)
    level_case = " ".join(f"WHEN u_level < {share} THEN {lo} + u_pay * {hi - lo}" for share, lo, hi in LEVELS[:-1])
    _, lo5, hi5 = LEVELS[-1]
    ssn_offset = f"(md5_number_upper(concat_ws('|', {seed}, 'ssn')) % {SSN_SPACE})::BIGINT"
    cd = f"DATE '{census_date.isoformat()}'"
    return f"""
    WITH drawn AS (
        SELECT i, {draws} FROM range(1, {employees + 1}) AS r(i)
    ), person AS (
        SELECT i,
            {cd} AS census_date,
            date_trunc('year', {cd})::DATE AS year_start,
            least(65, greatest(22, floor(38 + 10 * sqrt(-2 * ln(1 - u_age1)) * cos(2 * pi() * u_age2))))::INTEGER
                AS age,
            floor(u_birthday * 365)::INTEGER AS days_past_birthday,
            round(least(30, -5 * ln(1 - u_tenure)) * 365.25)::INTEGER AS tenure_days,
            round((CASE {level_case} ELSE {lo5} + u_pay * {hi5 - lo5} END) / 100) * 100 AS pay,
            u_term < 0.13 AS leaves,
            u_term_date,
            CASE WHEN u_enroll < 0.80 THEN 0.03 + floor(u_rate * 25) * 0.005 ELSE 0 END AS rate,
            ((i - 1) * {SSN_STEP} + {ssn_offset}) % {SSN_SPACE} AS ssn_n
        FROM drawn
    ), dated AS (
        SELECT *,
            (census_date - INTERVAL (age) YEAR - INTERVAL (days_past_birthday) DAY)::DATE AS birth_date
        FROM person
    ), hired AS (
        SELECT *,
            greatest(census_date - tenure_days, (birth_date + INTERVAL 18 YEAR)::DATE) AS hire_date
        FROM dated
    ), termed AS (
        SELECT *,
            CASE WHEN leaves AND hire_date < census_date THEN
                greatest(year_start, hire_date + 1)
                + floor(u_term_date * (date_diff('day', greatest(year_start, hire_date + 1), census_date) + 1))::INTEGER
            END AS term_date,
            date_diff('day', year_start, (year_start + INTERVAL 1 YEAR)::DATE) AS days_in_year
        FROM hired
    ), paid AS (
        SELECT *,
            least(pay, {COMP_CAP}) AS capped,
            least(pay, {COMP_CAP}) * (date_diff('day', greatest(hire_date, year_start),
                                                 coalesce(term_date, census_date)) + 1) / days_in_year AS earned,
            term_date IS NULL
                AND (date_diff('day', greatest(hire_date, year_start), census_date) + 1) * 2080 / days_in_year
                    >= 1000 AS gets_employer_money
        FROM termed
    ), contributed AS (
        SELECT *,
            least(round(earned * rate, 2), CASE WHEN age >= 50 THEN {IRS_CATCH_UP_LIMIT} ELSE {IRS_LIMIT} END)
                AS contribution
        FROM paid
    )
    SELECT
        printf('EMP_%d_%06d', year(census_date), i) AS employee_id,
        printf('%03d-%02d-%04d', 100 + ssn_n // {SSN_GROUPS * SSN_SERIALS},
               1 + (ssn_n // {SSN_SERIALS}) % {SSN_GROUPS}, 1 + ssn_n % {SSN_SERIALS}) AS employee_ssn,
        birth_date AS employee_birth_date,
        hire_date AS employee_hire_date,
        term_date AS employee_termination_date,
        pay::{MONEY} AS employee_gross_compensation,
        capped::{MONEY} AS employee_capped_compensation,
        round(rate, 3)::{RATE} AS employee_deferral_rate,
        contribution::{MONEY} AS employee_contribution,
        contribution::{MONEY} AS pre_tax_contribution,
        0::{MONEY} AS roth_contribution,
        0::{MONEY} AS after_tax_contribution,
        CASE WHEN gets_employer_money THEN round(earned * 0.02, 2) ELSE 0 END::{MONEY} AS employer_core_contribution,
        CASE WHEN gets_employer_money THEN least(round(contribution * 0.5, 2), round(earned * 0.03, 2))
             ELSE 0 END::{MONEY} AS employer_match_contribution,
        hire_date AS eligibility_entry_date,
        term_date IS NULL AS active,
        -- employer-money balances, estimated: the census year's match and core for each plan year from the hire
        -- year to the census year (no earnings, nothing vested or paid out)
        CASE WHEN gets_employer_money THEN least(round(contribution * 0.5, 2), round(earned * 0.03, 2))
                                           * (year(census_date) - year(hire_date) + 1)
             ELSE 0 END::{MONEY} AS employer_match_balance,
        CASE WHEN gets_employer_money THEN round(earned * 0.02, 2) * (year(census_date) - year(hire_date) + 1)
             ELSE 0 END::{MONEY} AS employer_core_balance
    FROM contributed
    ORDER BY employee_id
    """


# ---------------------------------------------------------------------------------------------- staging


@dataclass
class CensusReport:
    """What staging did to the file: enough to explain every row that did not make it into `raw_census`.

    `samples` holds up to 5 ids per rejection reason, `row N` (N-th data row, header not counted) where the id
    is missing; `duplicate_ids` up to 5 ids that had duplicates dropped.
    """

    path: Path
    rows_read: int
    rows_staged: int
    active_rows: int
    terminated_rows: int
    duplicates_dropped: int
    rejected: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    duplicate_ids: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    absent_columns: list[str] = field(default_factory=list)
    fingerprint: str = ""
    sheet: str | None = None  # the .xlsx sheet read
    census_map: str | None = None  # the census map the file was read through

    def to_dict(self) -> dict:
        """JSON-able form, for run manifests."""
        return {**asdict(self), "path": str(self.path)}

    def summary_lines(self) -> list[str]:
        """Human lines: one overall count line, then one line per problem found."""
        lines = [
            f"census: {self.rows_read:,} rows read, {self.active_rows:,} active, "
            f"{self.terminated_rows:,} already terminated, {self.duplicates_dropped:,} duplicates dropped, "
            f"{sum(self.rejected.values()):,} rejected"
        ]
        for reason, count in self.rejected.items():
            noun = "row" if count == 1 else "rows"
            lines.append(f"  rejected {count:,} {noun} ({reason}): {', '.join(self.samples.get(reason, []))}")
        if self.duplicates_dropped:
            lines.append(f"  dropped {self.duplicates_dropped:,} duplicate rows (kept latest hire date, then highest "
                         f"pay): {', '.join(self.duplicate_ids)}")
        if self.extra_columns:
            lines.append(f"  ignored extra columns: {', '.join(self.extra_columns)}")
        return lines + [f"  {line}" for line in self.absent_lines()]

    def absent_lines(self) -> list[str]:
        """One line per group of absent optional opening columns, saying what staging assumes instead."""
        lines, said = [], set()
        for group, meaning in OPENING_COLUMNS:
            if set(group) <= set(self.absent_columns) and not said & set(group):
                lines.append(f"{', '.join(group)} absent: {meaning}")
                said |= set(group)
        return lines


class StagedCensus:
    """A staged census held in memory until `write_to` copies it into the simulation database."""

    def __init__(self, con: duckdb.DuckDBPyConnection, report: CensusReport):
        self.con = con
        self.report = report

    def write_to(self, db_path: Path, table: str = "raw_census") -> None:
        """Replace `table` in the database file with the staged rows (ordered by id), then close."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(f"not a plain table name: {table!r}")
        db_path = Path(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con.execute(f"ATTACH {_quote(db_path)} AS census_target")
            self.con.execute(
                f"CREATE OR REPLACE TABLE census_target.main.{table} AS "
                f"SELECT {', '.join(COLUMN_NAMES)} FROM staged ORDER BY employee_id"
            )
            self.con.execute("DETACH census_target")
        finally:
            self.close()

    def export(self, out: Path) -> None:
        """Write the staged rows (ordered by id) as a PlanWise-format Parquet census: a client's workbook or
        mapped file, as a run reads it without a map. Absent optional columns stay absent."""
        columns = [name for name in COLUMN_NAMES if name not in self.report.absent_columns]
        self.con.execute(f"COPY (SELECT {', '.join(columns)} FROM staged ORDER BY employee_id) TO {_quote(out)} "
                         f"(FORMAT parquet)")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "StagedCensus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stage_census(path: Path, census_date: date, sheet: str | None = None,
                 census_map: Path | None = None) -> StagedCensus:
    """Read (the `sheet` of an .xlsx; through `census_map`), type-check, clean and de-duplicate a census; raise
    CensusError if it cannot be read or nothing usable is left.

    Its fingerprint is the sha256 of a .parquet or .csv file read as it is; of the staged rows (in id order) for an
    .xlsx or a file read through a map, whose bytes do not say what a run gets: a workbook saved again changes
    them, and the map changes what they mean."""
    from .census_map import load_census_map

    path = Path(path)
    file_format = _census_format(path)
    if sheet is not None and file_format != "xlsx":
        raise CensusError(f"--census-sheet {sheet!r}: census {path} is not an .xlsx workbook",
                          "leave out --census-sheet, or give the .xlsx census")
    reading = load_census_map(census_map) if census_map is not None else None
    as_is = file_format != "xlsx" and reading is None
    fingerprint = _fingerprint(path) if as_is else ""
    con = _connect()
    try:
        read_sheet = _load(con, path, file_format, sheet, reading.date_format if reading else None)
        if reading is not None:
            reading.apply(con, f"{path}, sheet {read_sheet!r}" if read_sheet else str(path))
        mapping, extra = _map_columns(con, path)
        con.execute(_typed_sql(mapping, census_date))
        con.execute(_ranked_sql())
        con.execute(_staged_sql())
        report = _report(con, path, extra, fingerprint if as_is else _staged_fingerprint(con))
        report.absent_columns = [name for name, _ in COLUMNS if name not in mapping and name in _OPENING_NAMES]
        report.sheet, report.census_map = read_sheet, str(census_map) if census_map is not None else None
        _require_usable(report)
    except BaseException:
        con.close()
        raise
    return StagedCensus(con, report)


def _census_format(path: Path) -> str:
    """Format by suffix: the file says what it is, nothing is sniffed."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise CensusError(f"census {path}: unsupported file type {suffix or '(no suffix)'!r}",
                          "provide the census as .parquet, .csv or .xlsx")
    return FORMATS[suffix]


def _fingerprint(path: Path) -> str:
    """sha256 of the file bytes, so a run records exactly which census it used."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as err:
        raise CensusError(f"cannot read census {path}: {err.strerror or err}", "check the census path") from err
    return digest.hexdigest()


def _load(con: duckdb.DuckDBPyConnection, path: Path, file_format: str, sheet: str | None,
          date_format: str | None) -> str | None:
    """Copy the file into table `src` and return the name of the sheet read (None but for an .xlsx); CSV and
    spreadsheet cells stay text so typing happens (and is checked) in one place."""
    if file_format == "xlsx":
        from .census_spreadsheet import load_sheet

        return load_sheet(con, path, sheet, date_format)
    reader = "read_parquet(?)" if file_format == "parquet" else "read_csv(?, header = true, all_varchar = true)"
    try:
        con.execute(f"CREATE TABLE src AS SELECT * FROM {reader}", [str(path)])
    except duckdb.Error as err:
        raise CensusError(f"cannot read census {path} as {file_format}: {first_line(err)}",
                          f"provide a valid {file_format} census file") from err
    return None


def first_line(err: Exception) -> str:
    """The first non-blank line of an error, for a one-line message (DuckDB's and openpyxl's run over several)."""
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


def quote_ident(name: str) -> str:
    """A column name as a SQL identifier, whatever characters a client's header holds."""
    return '"' + name.replace('"', '""') + '"'


def _map_columns(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Match file columns to census columns (case and surrounding spaces ignored); report the extras."""
    source = con.execute("SELECT column_name, column_type FROM (DESCRIBE src)").fetchall()
    mapping: dict[str, tuple[str, str]] = {}
    extra = []
    for name, data_type in source:
        key = name.strip().lower()
        if key in COLUMN_NAMES and key not in mapping:
            mapping[key] = (name, data_type)
        else:
            extra.append(name)
    missing = [name for name in REQUIRED if name not in mapping]
    if missing:
        raise CensusError(f"census {path} is missing required column(s): {', '.join(missing)}",
                          "add the column(s) to the census file")
    return mapping, extra


def _raw_value(column: str, mapping: dict[str, tuple[str, str]]) -> str:
    """The source value with blanks as NULL; NULL for an absent optional column."""
    if column not in mapping:
        return "NULL"
    name, data_type = mapping[column]
    ident = quote_ident(name)
    is_text = data_type == "VARCHAR" or dict(COLUMNS)[column] == "VARCHAR"
    return f"NULLIF(trim({ident}::VARCHAR), '')" if is_text else ident


def _typed_sql(mapping: dict[str, tuple[str, str]], census_date: date) -> str:
    """Table `typed`: every row, cast, with the first reason (if any) it cannot be staged."""
    raws = ", ".join(f"{_raw_value(c, mapping)} AS r_{c}" for c in COLUMN_NAMES)
    casts = ", ".join(f"TRY_CAST(r_{c} AS {t}) AS {c}" for c, t in COLUMNS)
    malformed = " ".join(f"WHEN r_{c} IS NOT NULL AND {c} IS NULL THEN 'malformed {c}'" for c in COLUMN_NAMES)
    malformed += (" WHEN TRY_CAST(r_vesting_service_years AS DOUBLE) IS DISTINCT FROM vesting_service_years "
                  "THEN 'malformed vesting_service_years'")  # a fraction of a year is not rounded away
    cd = f"DATE '{census_date.isoformat()}'"
    return f"""
    CREATE TABLE typed AS
    SELECT *,
        CASE {malformed}
            WHEN employee_id IS NULL THEN 'missing employee_id'
            WHEN employee_birth_date IS NULL THEN 'missing employee_birth_date'
            WHEN employee_hire_date IS NULL THEN 'missing employee_hire_date'
            WHEN employee_gross_compensation IS NULL THEN 'missing employee_gross_compensation'
            WHEN employee_gross_compensation <= 0 THEN 'non-positive employee_gross_compensation'
            WHEN employee_hire_date > {cd} THEN 'employee_hire_date after census date'
            WHEN employee_termination_date < employee_hire_date THEN 'employee_termination_date before hire date'
            WHEN employee_termination_date > {cd} THEN 'employee_termination_date after census date'
            WHEN employee_deferral_rate NOT BETWEEN 0 AND 1 THEN 'employee_deferral_rate outside 0..1'
            WHEN employer_match_balance < 0 THEN 'negative employer_match_balance'
            WHEN employer_core_balance < 0 THEN 'negative employer_core_balance'
            WHEN vesting_service_years < 0 THEN 'negative vesting_service_years'
        END AS reason
    FROM (SELECT *, {casts} FROM (SELECT rowid + 1 AS row_no, {raws} FROM src))
    """


def _ranked_sql() -> str:
    """Table `ranked`: accepted rows, rank 1 = the row kept for its id (latest hire, highest pay, smallest ssn)."""
    return """
    CREATE TABLE ranked AS
    SELECT *, row_number() OVER (
        PARTITION BY employee_id
        ORDER BY employee_hire_date DESC, employee_gross_compensation DESC, employee_ssn ASC NULLS LAST, row_no
    ) AS id_rank
    FROM typed WHERE reason IS NULL
    """


def _staged_sql() -> str:
    """Table `staged`: one row per id; `active` means "in the start population", a blank deferral means 0."""
    columns = ", ".join(
        "employee_termination_date IS NULL AND coalesce(active, true) AS active" if c == "active"
        else "coalesce(employee_deferral_rate, 0)::DECIMAL(7,4) AS employee_deferral_rate"
        if c == "employee_deferral_rate" else c
        for c in COLUMN_NAMES
    )
    return f"CREATE TABLE staged AS SELECT {columns} FROM ranked WHERE id_rank = 1 ORDER BY employee_id"


def _staged_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """sha256 of the staged rows in id order: the same people, from whatever file and map, give the same one."""
    rows = f"SELECT {', '.join(COLUMN_NAMES)} FROM staged"
    digest, = con.execute(f"SELECT sha256(coalesce(string_agg(md5(s::VARCHAR), '' ORDER BY s.employee_id), '')) "
                          f"FROM ({rows}) s").fetchone()
    return digest


def _report(con: duckdb.DuckDBPyConnection, path: Path, extra: list[str], fingerprint: str) -> CensusReport:
    """Count what staging kept, dropped and rejected, with a few ids for each problem."""
    rows_read, = con.execute("SELECT count(*) FROM typed").fetchone()
    rows_staged, active_rows = con.execute("SELECT count(*), count(*) FILTER (active) FROM staged").fetchone()
    rejections = con.execute(f"""
        SELECT reason, count(*) AS n,
               list(coalesce(employee_id, 'row ' || row_no) ORDER BY row_no)[1:{SAMPLE_SIZE}]
        FROM typed WHERE reason IS NOT NULL GROUP BY reason ORDER BY n DESC, reason
    """).fetchall()
    duplicates, duplicate_ids = con.execute(f"""
        SELECT count(*), coalesce(list(DISTINCT employee_id ORDER BY employee_id)[1:{SAMPLE_SIZE}], []::VARCHAR[])
        FROM ranked WHERE id_rank > 1
    """).fetchone()
    return CensusReport(
        path=path,
        rows_read=rows_read,
        rows_staged=rows_staged,
        active_rows=active_rows,
        terminated_rows=rows_staged - active_rows,
        duplicates_dropped=duplicates,
        rejected={reason: n for reason, n, _ in rejections},
        samples={reason: ids for reason, _, ids in rejections},
        duplicate_ids=duplicate_ids,
        extra_columns=extra,
        fingerprint=fingerprint,
    )


def _require_usable(report: CensusReport) -> None:
    """A census with nobody to simulate is an error, stated with the rejection counts that explain it."""
    rejected = "; ".join(f"{reason}: {n:,}" for reason, n in report.rejected.items()) or "none"
    if report.rows_staged == 0:
        raise CensusError(
            f"census {report.path} is empty after staging: {report.rows_read:,} rows read, "
            f"{sum(report.rejected.values()):,} rejected ({rejected})",
            "fix the rejected rows or use another census file",
        )
    if report.active_rows == 0:
        raise CensusError(
            f"census {report.path} has no active employees after staging: {report.rows_staged:,} rows staged, "
            f"all already terminated; {sum(report.rejected.values()):,} rejected ({rejected})",
            "use a census with active employees (no termination date, active true)",
        )


def _connect() -> duckdb.DuckDBPyConnection:
    """An in-memory connection that prints nothing (no progress bar in the middle of CLI output)."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def _quote(path: Path) -> str:
    """A file path as a SQL string literal (COPY TO and ATTACH take no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"
