"""Census generator and staging: determinism, realistic shape, and every staging rule of simulation.md 1.1."""

import csv
import hashlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.inputs.census import COLUMN_NAMES, REQUIRED, generate_census, stage_census
from navigator_orchestrator.errors import CensusError

CENSUS_DATE = date(2024, 12, 31)
SEED = 42
# the optional column the generator does not write: years of vesting service (completed years since hire)
OPENING = ("vesting_service_years",)
GENERATED = [c for c in COLUMN_NAMES if c not in OPENING]


def rows_of(path: Path) -> list[tuple]:
    reader = "read_csv(?, header = true)" if path.suffix == ".csv" else "read_parquet(?)"
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM {reader}", [str(path)]).fetchall()


def columns_of(path: Path) -> list[tuple[str, str]]:
    with duckdb.connect() as con:
        return con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                           [str(path)]).fetchall()


def u(stream: str, i: int, seed: int = SEED) -> float:
    """simulation.md section 7, recomputed in Python."""
    digest = hashlib.md5(f"{seed}|{stream}|{i}".encode()).digest()
    return (int.from_bytes(digest[:8], "little") >> 11) / 2**53


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def completed_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def load(census: Path, db: Path) -> None:
    """The intended workflow: stage first, write only if staging succeeded."""
    with stage_census(census, CENSUS_DATE) as staged:
        staged.write_to(db)


@pytest.fixture(scope="module")
def census_5000(tmp_path_factory) -> Path:
    return generate_census(5000, SEED, tmp_path_factory.mktemp("census") / "census.parquet")


@pytest.fixture(scope="module")
def people(census_5000) -> list[dict]:
    return [dict(zip(COLUMN_NAMES, row)) for row in rows_of(census_5000)]


# ---------------------------------------------------------------------------------------------- generator


def test_same_seed_gives_identical_census_and_another_seed_does_not(tmp_path):
    first = rows_of(generate_census(300, 7, tmp_path / "a.parquet"))
    again = rows_of(generate_census(300, 7, tmp_path / "b.parquet"))
    other = rows_of(generate_census(300, 8, tmp_path / "c.parquet"))
    assert first == again
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert len(other) == 300
    assert [r[0] for r in first] == [r[0] for r in other]  # same ids ...
    differing = sum(a[1:] != b[1:] for a, b in zip(first, other))
    assert differing == 300  # ... but different people


def test_columns_and_types_are_the_planwise_format(census_5000):
    money = "DECIMAL(12,2)"
    assert columns_of(census_5000) == [
        ("employee_id", "VARCHAR"), ("employee_ssn", "VARCHAR"), ("employee_birth_date", "DATE"),
        ("employee_hire_date", "DATE"), ("employee_termination_date", "DATE"),
        ("employee_gross_compensation", money), ("employee_capped_compensation", money),
        ("employee_deferral_rate", "DECIMAL(7,4)"), ("employee_contribution", money),
        ("pre_tax_contribution", money), ("roth_contribution", money), ("after_tax_contribution", money),
        ("employer_core_contribution", money), ("employer_match_contribution", money),
        ("eligibility_entry_date", "DATE"), ("active", "BOOLEAN"),
        ("employer_match_balance", money), ("employer_core_balance", money),
    ]


def test_opening_balances_are_the_census_years_money_for_each_plan_year(people):
    """An active person hired in 2021 has five plan years (2021-2024): five times the census year's match and core."""
    for p in people:
        years = CENSUS_DATE.year - p["employee_hire_date"].year + 1
        assert p["employer_match_balance"] == p["employer_match_contribution"] * years, p["employee_id"]
        assert p["employer_core_balance"] == p["employer_core_contribution"] * years, p["employee_id"]
    assert any(p["employer_core_balance"] > p["employer_core_contribution"] > 0 for p in people)


def test_draws_follow_the_documented_md5_formula(people):
    for i, p in enumerate(people, start=1):
        leaves = u("term", i) < 0.13 and p["employee_hire_date"] < CENSUS_DATE
        assert (p["employee_termination_date"] is not None) == leaves, p["employee_id"]
        assert (p["employee_deferral_rate"] > 0) == (u("enroll", i) < 0.80), p["employee_id"]


def test_distribution_is_realistic(people):
    n = len(people)
    assert n == 5000
    terminated = sum(p["employee_termination_date"] is not None for p in people) / n
    enrolled = sum(p["employee_deferral_rate"] > 0 for p in people) / n
    assert 0.10 <= terminated <= 0.16
    assert 0.75 <= enrolled <= 0.85
    ages = [completed_years(p["employee_birth_date"], CENSUS_DATE) for p in people]
    assert min(ages) >= 22 and max(ages) <= 65
    assert 37 <= sum(ages) / n <= 39
    tenure = [(CENSUS_DATE - p["employee_hire_date"]).days / 365.25 for p in people]
    assert 4 <= sum(tenure) / n <= 5.5 and max(tenure) <= 30.01
    pay = [p["employee_gross_compensation"] for p in people]
    assert all(Decimal(50_000) <= x <= Decimal(350_000) and x % 100 == 0 for x in pay)
    assert 0.22 <= sum(x < 65_000 for x in pay) / n <= 0.30  # only level 1 (35 %, 3/4 of its band)
    assert 0.03 <= sum(x > 180_000 for x in pay) / n <= 0.07  # only level 5 (5 %)


def test_every_row_is_consistent(people):
    for p in people:
        hire, term = p["employee_hire_date"], p["employee_termination_date"]
        assert hire <= CENSUS_DATE
        assert completed_years(p["employee_birth_date"], hire) >= 18
        if term is not None:
            assert hire < term <= CENSUS_DATE and term.year == CENSUS_DATE.year
        assert p["active"] == (term is None)
        assert p["employee_capped_compensation"] == min(p["employee_gross_compensation"], 350_000)
        rate = p["employee_deferral_rate"]
        assert rate == 0 or (Decimal("0.03") <= rate <= Decimal("0.15") and rate % Decimal("0.005") == 0)


def test_ids_and_ssns_are_unique_and_well_formed(people):
    ids = [p["employee_id"] for p in people]
    ssns = [p["employee_ssn"] for p in people]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"EMP_2024_\d{6}", i) for i in ids)
    assert ids[0] == "EMP_2024_000001"
    assert len(set(ssns)) == len(ssns)
    assert all(re.fullmatch(r"\d{3}-\d{2}-\d{4}", s) and 100 <= int(s[:3]) <= 899 for s in ssns)


def test_csv_output_and_no_temporary_file_left(tmp_path):
    out = generate_census(50, SEED, tmp_path / "sub" / "census.csv")
    assert [p.name for p in out.parent.iterdir()] == ["census.csv"]
    with out.open() as f:
        assert next(csv.reader(f)) == GENERATED
    assert len(rows_of(out)) == 50


@pytest.mark.parametrize("employees", [0, -5])
def test_generator_needs_at_least_one_employee(tmp_path, employees):
    with pytest.raises(CensusError, match="at least 1"):
        generate_census(employees, SEED, tmp_path / "census.parquet")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- staging


def test_clean_census_stages_unchanged_from_csv_and_parquet(tmp_path):
    parquet = generate_census(2000, SEED, tmp_path / "census.parquet")
    as_csv = generate_census(2000, SEED, tmp_path / "census.csv")
    db = tmp_path / "sim.duckdb"
    reports = []
    for source, table in ((parquet, "raw_parquet"), (as_csv, "raw_csv")):
        with stage_census(source, CENSUS_DATE) as staged:
            reports.append(staged.report.to_dict())
            staged.write_to(db, table)
    with duckdb.connect(str(db)) as con:
        for a, b in (("raw_parquet", "raw_csv"), ("raw_csv", "raw_parquet")):
            assert con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchone() == (0,)
        generated = con.execute(f"FROM read_parquet(?) EXCEPT ALL SELECT {', '.join(GENERATED)} FROM raw_parquet",
                                [str(parquet)]).fetchall()
        assert generated == []
        assert con.execute(f"SELECT count(*) FROM raw_parquet WHERE coalesce({', '.join(OPENING)}) IS NOT NULL"
                           ).fetchone() == (0,)  # absent optional columns are NULL
    for report in reports:
        report.pop("path"), report.pop("fingerprint")
    assert reports[0] == reports[1]
    assert reports[0]["rows_read"] == reports[0]["rows_staged"] == 2000
    assert reports[0]["rejected"] == {} and reports[0]["duplicates_dropped"] == 0
    assert reports[0]["absent_columns"] == list(OPENING)


MESSY_HEADER = ["employee_id", "employee_ssn", "employee_birth_date", "employee_hire_date",
                "employee_termination_date", "employee_gross_compensation", "employee_deferral_rate", "active",
                "department"]
MESSY_ROWS = [
    # id,       ssn,         birth,        hire,         term,         pay,      rate,  active, extra
    ["EMP_001", "100-00-0001", "1980-01-01", "2010-05-01", "", "80000", "0.06", "true", "HR"],       # 1 kept
    ["  EMP_002 ", "100-00-0002", "1985-01-01", "2012-01-01", "", "70000", "0", "true", "IT"],   # 2 older hire
    ["EMP_002", "100-00-0003", "1985-01-01", "2016-03-01", "", "65000", "0.05", "true", "IT"],   # 3 kept
    ["EMP_003", "100-00-0222", "1990-01-01", "2018-01-01", "", "90000", "0", "true", "IT"],      # 4 lower pay
    ["EMP_003", "100-00-0223", "1990-01-01", "2018-01-01", "", "95000", "0", "true", "IT"],      # 5 larger ssn
    ["EMP_003", "100-00-0221", "1990-01-01", "2018-01-01", "", "95000", "0", "true", "IT"],      # 6 kept
    ["EMP_004", "100-00-0004", "", "2015-01-01", "", "60000", "0", "true", "IT"],
    ["EMP_005", "100-00-0005", "1970-01-01", "", "", "60000", "0", "true", "IT"],
    ["EMP_006", "100-00-0006", "1970-01-01", "2015-01-01", "", "0", "0", "true", "IT"],
    ["EMP_007", "100-00-0007", "1970-01-01", "2015-01-01", "", "-5000", "0", "true", "IT"],
    ["", "100-00-0008", "1970-01-01", "2015-01-01", "", "60000", "0", "true", "IT"],            # 11
    ["   ", "100-00-0009", "1970-01-01", "2015-01-01", "", "60000", "0", "true", "IT"],         # 12
    ["EMP_008", "100-00-0010", "1970-01-01", "2015-01-01", "2024-06-30", "60000", "0", "false", "IT"],
    ["EMP_009", "100-00-0011", "1970-01-01", "2015-01-01", "", "60000", "0", "false", "IT"],
    ["EMP_010", "100-00-0012", "03/15/1980", "2015-01-01", "", "60000", "0", "true", "IT"],
    ["EMP_011", "100-00-0013", "1970-01-01", "2025-02-01", "", "60000", "0", "true", "IT"],
    ["EMP_012", "100-00-0014", "1970-01-01", "2020-01-01", "2019-06-01", "60000", "0", "false", "IT"],
    ["EMP_013", "100-00-0015", "1970-01-01", "2015-01-01", "", "60000", "1.5", "true", "IT"],
    ["EMP_014", "100-00-0016", "1970-01-01", "2015-01-01", "", "60000", "0", "maybe", "IT"],
    ["EMP_015", "100-00-0017", "1970-01-01", "2015-01-01", "", "", "0", "true", "IT"],
    ["EMP_016", "100-00-0018", "1970-01-01", "2015-01-01", "", "60000", "", "", "IT"],          # 21 kept
    ["EMP_001", "100-00-0019", "1980-01-01", "2023-05-01", "", "-1", "0.06", "true", "HR"],     # rejected, no dup
    ["EMP_017", "100-00-0020", "1970-01-01", "2015-01-01", "2025-01-15", "60000", "0", "false", "IT"],
    ["EMP_018", "100-00-0021", "1970-01-01", "2015-01-01", "", "55,000", "0", "true", "IT"],
]


def test_messy_census_is_staged_with_exact_counts(tmp_path):
    census = write_csv(tmp_path / "messy.csv", MESSY_HEADER, MESSY_ROWS)
    db = tmp_path / "sim.duckdb"
    with stage_census(census, CENSUS_DATE) as staged:
        report = staged.report
        staged.write_to(db)
    assert report.rows_read == 24
    assert report.rejected == {
        "non-positive employee_gross_compensation": 3,
        "missing employee_id": 2,
        "employee_deferral_rate outside 0..1": 1,
        "employee_hire_date after census date": 1,
        "employee_termination_date after census date": 1,
        "employee_termination_date before hire date": 1,
        "malformed active": 1,
        "malformed employee_birth_date": 1,
        "malformed employee_gross_compensation": 1,
        "missing employee_birth_date": 1,
        "missing employee_gross_compensation": 1,
        "missing employee_hire_date": 1,
    }
    assert report.samples["non-positive employee_gross_compensation"] == ["EMP_006", "EMP_007", "EMP_001"]
    assert report.samples["missing employee_id"] == ["row 11", "row 12"]
    assert report.samples["malformed employee_birth_date"] == ["EMP_010"]
    assert report.samples["malformed employee_gross_compensation"] == ["EMP_018"]
    assert report.duplicates_dropped == 3 and report.duplicate_ids == ["EMP_002", "EMP_003"]
    assert (report.rows_staged, report.active_rows, report.terminated_rows) == (6, 4, 2)
    assert report.extra_columns == ["department"]
    assert report.fingerprint == hashlib.sha256(census.read_bytes()).hexdigest()
    assert report.summary_lines()[0] == (
        "census: 24 rows read, 4 active, 2 already terminated, 3 duplicates dropped, 15 rejected")
    assert "  rejected 2 rows (missing employee_id): row 11, row 12" in report.summary_lines()
    assert report.summary_lines()[-2:] == [
        "  employer_match_balance, employer_core_balance absent: every account starts at 0",
        "  vesting_service_years absent: completed years since hire"]
    assert report.to_dict()["path"] == str(census)

    with duckdb.connect(str(db)) as con:
        kept = con.execute("""
            SELECT employee_id, employee_ssn, employee_hire_date::VARCHAR, employee_gross_compensation::VARCHAR,
                   employee_deferral_rate::VARCHAR, active, employee_capped_compensation
            FROM raw_census
        """).fetchall()
    assert kept == [
        ("EMP_001", "100-00-0001", "2010-05-01", "80000.00", "0.0600", True, None),
        ("EMP_002", "100-00-0003", "2016-03-01", "65000.00", "0.0500", True, None),
        ("EMP_003", "100-00-0221", "2018-01-01", "95000.00", "0.0000", True, None),
        ("EMP_008", "100-00-0010", "2015-01-01", "60000.00", "0.0000", False, None),
        ("EMP_009", "100-00-0011", "2015-01-01", "60000.00", "0.0000", False, None),
        ("EMP_016", "100-00-0018", "2015-01-01", "60000.00", "0.0000", True, None),
    ]


def test_missing_required_columns_are_all_named_and_the_database_is_untouched(tmp_path):
    db = tmp_path / "sim.duckdb"
    header = [c for c in REQUIRED if c not in ("employee_birth_date", "active")]
    bad = write_csv(tmp_path / "bad.csv", header, [["EMP_1", "100-00-0001", "2015-01-01", "", "1", "0"]])
    with pytest.raises(CensusError) as err:
        load(bad, db)
    assert "employee_birth_date" in str(err.value) and "active" in str(err.value)
    assert err.value.exit_code == 2
    assert not db.exists()

    load(generate_census(20, SEED, tmp_path / "good.parquet"), db)
    before = db.read_bytes()
    with pytest.raises(CensusError, match="missing required column"):
        load(bad, db)
    assert db.read_bytes() == before
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT count(*) FROM raw_census").fetchone() == (20,)


def test_empty_census_is_an_error(tmp_path):
    empty = write_csv(tmp_path / "empty.csv", MESSY_HEADER, [])
    with pytest.raises(CensusError, match="empty after staging: 0 rows read"):
        stage_census(empty, CENSUS_DATE)


def test_census_with_only_rejected_rows_is_an_error_with_counts(tmp_path):
    rejected = write_csv(tmp_path / "rejected.csv", MESSY_HEADER, [MESSY_ROWS[6], MESSY_ROWS[8], MESSY_ROWS[9]])
    with pytest.raises(CensusError) as err:
        stage_census(rejected, CENSUS_DATE)
    message = str(err.value)
    assert "empty after staging" in message
    assert "non-positive employee_gross_compensation: 2" in message
    assert "missing employee_birth_date: 1" in message


def test_census_with_only_terminated_people_is_an_error(tmp_path):
    gone = write_csv(tmp_path / "gone.csv", MESSY_HEADER, [MESSY_ROWS[12], MESSY_ROWS[13]])
    with pytest.raises(CensusError, match="no active employees"):
        stage_census(gone, CENSUS_DATE)


def test_unreadable_missing_and_unsupported_files_are_errors(tmp_path):
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet at all\x00\x01\x02" * 10)
    with pytest.raises(CensusError) as err:
        stage_census(garbage, CENSUS_DATE)
    assert "garbage.parquet" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CensusError, match="nowhere.csv"):
        stage_census(tmp_path / "nowhere.csv", CENSUS_DATE)
    sheet = tmp_path / "census.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(CensusError, match=r"\.xlsx"):
        stage_census(sheet, CENSUS_DATE)


def test_write_to_creates_raw_census_with_exact_types_and_replaces_it(tmp_path):
    db = tmp_path / "data" / "sim.duckdb"
    load(generate_census(30, SEED, tmp_path / "a.parquet"), db)
    load(generate_census(12, SEED + 1, tmp_path / "b.csv"), db)
    money = "DECIMAL(12,2)"
    with duckdb.connect(str(db)) as con:
        types = con.execute("""
            SELECT column_name, data_type FROM information_schema.columns
            WHERE table_name = 'raw_census' ORDER BY ordinal_position
        """).fetchall()
        ids = [r[0] for r in con.execute("SELECT employee_id FROM raw_census").fetchall()]
    assert types == [
        ("employee_id", "VARCHAR"), ("employee_ssn", "VARCHAR"), ("employee_birth_date", "DATE"),
        ("employee_hire_date", "DATE"), ("employee_termination_date", "DATE"),
        ("employee_gross_compensation", money), ("employee_capped_compensation", money),
        ("employee_deferral_rate", "DECIMAL(7,4)"), ("employee_contribution", money),
        ("pre_tax_contribution", money), ("roth_contribution", money), ("after_tax_contribution", money),
        ("employer_core_contribution", money), ("employer_match_contribution", money),
        ("eligibility_entry_date", "DATE"), ("active", "BOOLEAN"),
        ("employer_match_balance", money), ("employer_core_balance", money), ("vesting_service_years", "INTEGER"),
    ]
    assert ids == sorted(ids) and len(ids) == 12


# ---------------------------------------------------------------------------------------------- opening balances

OPENING_HEADER = [*MESSY_HEADER[:8], "Employer_Match_Balance ", "employer_core_balance", "vesting_service_years"]
OPENING_ROWS = [
    # id,    ssn,          birth,       hire,         term, pay,    rate,  active, match,     core,     vesting
    ["EMP_1", "100-00-0001", "1980-01-01", "2010-05-01", "", "80000", "0.06", "true", "12345.67", "2500", "14"],  # kept
    ["EMP_2", "100-00-0002", "1985-01-01", "2020-01-01", "", "70000", "0.05", "true", "", "", ""],  # blanks: NULL
    ["EMP_3", "100-00-0003", "1985-01-01", "2020-01-01", "", "70000", "0.05", "true", "-0.01", "0", "3"],
    ["EMP_4", "100-00-0004", "1985-01-01", "2020-01-01", "", "70000", "0.05", "true", "0", "-100", "3"],
    ["EMP_5", "100-00-0005", "1985-01-01", "2020-01-01", "", "70000", "0.05", "true", "0", "0", "-1"],
    ["EMP_6", "100-00-0006", "1985-01-01", "2020-01-01", "", "70000", "0.05", "true", "0", "0", "2.5"],
    ["EMP_7", "100-00-0007", "1985-01-01", "2020-01-01", "", "70000", "0.05", "true", "lots", "0", "2"],
    ["EMP_8", "100-00-0008", "1985-01-01", "2024-03-01", "", "70000", "0", "true", "0", "0", "0"],  # kept: zeros
]


def test_opening_balances_and_vesting_service_are_kept_and_negatives_rejected(tmp_path):
    census = write_csv(tmp_path / "opening.csv", OPENING_HEADER, OPENING_ROWS)
    db = tmp_path / "sim.duckdb"
    with stage_census(census, CENSUS_DATE) as staged:
        report = staged.report
        staged.write_to(db)
    assert report.rejected == {"negative employer_match_balance": 1, "negative employer_core_balance": 1,
                               "negative vesting_service_years": 1, "malformed vesting_service_years": 1,
                               "malformed employer_match_balance": 1}
    assert report.samples["negative employer_match_balance"] == ["EMP_3"]
    assert report.samples["negative employer_core_balance"] == ["EMP_4"]
    assert report.samples["negative vesting_service_years"] == ["EMP_5"]
    assert report.samples["malformed vesting_service_years"] == ["EMP_6"]  # a fraction of a year is not rounded
    assert "  rejected 1 row (negative vesting_service_years): EMP_5" in report.summary_lines()
    assert report.absent_columns == [] and not any("absent" in line for line in report.summary_lines())
    with duckdb.connect(str(db)) as con:
        kept = con.execute("SELECT employee_id, employer_match_balance, employer_core_balance, vesting_service_years "
                           "FROM raw_census").fetchall()
    assert kept == [("EMP_1", Decimal("12345.67"), Decimal("2500.00"), 14), ("EMP_2", None, None, None),
                    ("EMP_8", Decimal("0.00"), Decimal("0.00"), 0)]


@pytest.mark.parametrize("present, lines", [
    ((), ["employer_match_balance, employer_core_balance absent: every account starts at 0",
          "vesting_service_years absent: completed years since hire"]),
    (("employer_core_balance",), ["employer_match_balance absent: every match account starts at 0",
                                  "vesting_service_years absent: completed years since hire"]),
    (("employer_match_balance", "vesting_service_years"), ["employer_core_balance absent: every core account starts at 0"]),
    (("employer_match_balance", "employer_core_balance", "vesting_service_years"), []),
])
def test_the_report_says_in_one_line_what_an_absent_opening_column_means(tmp_path, present, lines):
    header = [*MESSY_HEADER[:8], *present]
    census = write_csv(tmp_path / "census.csv", header,
                       [["EMP_1", "100-00-0001", "1980-01-01", "2010-05-01", "", "80000", "0.06", "true",
                         *("1" for _ in present)]])
    with stage_census(census, CENSUS_DATE) as staged:
        report = staged.report
    assert report.absent_columns == [c for c in ("employer_match_balance", "employer_core_balance",
                                                  "vesting_service_years") if c not in present]
    assert report.absent_lines() == lines
    assert [line for line in report.summary_lines() if "absent" in line] == [f"  {line}" for line in lines]
