"""The `planwise` CLI's inputs, end to end through the real command (simulation.md 1.1-1.2, architecture.md
"One run, as data" step 1): a messy census is staged and reported exactly; every bad input (census, years,
config, arguments) exits 2 with one `planwise: error:` line and leaves the database folder byte-identical;
`census generate` is deterministic; DB_PATH (environment, then .env) selects the database, `--db` beats both.

Every command runs in a subprocess with cwd=tmp_path and every path under tmp_path.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import subprocess
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.inputs.census import generate_census
from navigator_orchestrator.inputs.config import render_yaml
from pytest_planwise.commands import planwise_command

SMALL_CENSUS = 300


# ------------------------------------------------------------------------------------------------ helpers


def cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`planwise ...` exactly as a user runs it, without any DB_PATH inherited from the test environment."""
    return planwise_command(args, cwd, env)


def default_config(folder: Path) -> Path:
    """A private copy of the default config, so a concurrent edit of config/ cannot change these tests."""
    path = folder / "config.yaml"
    if not path.exists():
        path.write_text(render_yaml())
    return path


def small_census(folder: Path, suffix: str = ".csv") -> Path:
    path = folder / f"census_{SMALL_CENSUS}{suffix}"
    if not path.exists():
        generate_census(SMALL_CENSUS, 42, path)
    return path


def tree(root: Path) -> dict[str, str]:
    """Every file under root (relative path -> sha256; folders as 'dir'): equal trees = nothing written."""
    listing = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        listing[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return listing


@pytest.fixture
def existing_db(planwise_run, planwise_isolated_db) -> Path:
    """A private copy (under tmp_path) of a real, successful one-year run's database, built once per session."""
    run = planwise_run(years="2025-2025", employees=SMALL_CENSUS)
    assert run.status == "success", run.stderr
    return planwise_isolated_db(run)


def assert_one_error_line(done: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2 and stderr = exactly one line `planwise: error: ...` containing every needle."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{done.stderr}"
    line = lines[0]
    assert line.startswith("planwise: error:"), line
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not named in: {line}"
    return line


def assert_rejected_without_writing(tmp_path: Path, existing: Path, args: list[str], *needles: str) -> None:
    """The bad command, first against a database that does not exist, then against an existing one built by a
    good run: exit 2, one error line, the existing file byte-identical, nothing new anywhere under tmp_path."""
    fresh_folder = tmp_path / "fresh"
    fresh_folder.mkdir()
    fresh = fresh_folder / "simulation.duckdb"
    db_sha = hashlib.sha256(existing.read_bytes()).hexdigest()
    before = tree(tmp_path)

    assert_one_error_line(cli([*args, "--db", fresh], cwd=tmp_path), *needles)
    assert not fresh.exists(), "a rejected run created its database"
    assert list(fresh_folder.iterdir()) == [], "a rejected run wrote into the --db folder"

    assert_one_error_line(cli([*args, "--db", existing], cwd=tmp_path), *needles)
    assert hashlib.sha256(existing.read_bytes()).hexdigest() == db_sha, "a rejected run changed the database"
    assert tree(tmp_path) == before, "a rejected run wrote or changed files"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------------ messy census


def build_messy_census(tmp_path: Path) -> tuple[Path, dict]:
    """300 generated people, then edited: duplicates, missing dates, bad pay, terminated rows, an extra column.

    Returns the CSV and the expectation written down by hand from the edits (not computed by staging code).
    """
    base = generate_census(SMALL_CENSUS, 42, tmp_path / "base.csv")
    with base.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0].keys())
    assert len(rows) == SMALL_CENSUS
    active = [r for r in rows if not r["employee_termination_date"] and r["active"] == "true"
              and date.fromisoformat(r["employee_hire_date"]) < date(2024, 12, 1)]
    a, b, c, d, e = (dict(r) for r in active[:5])  # five distinct active people to make duplicates of

    def variant(row: dict, **changes: str) -> dict:
        return {**row, **changes}

    serials = iter(range(1, 100))

    def newcomer(employee_id: str, **changes: str) -> dict:
        template = active[-1]  # hired before 2024-12-01, no termination date
        return variant(template, employee_id=employee_id, employee_ssn=f"900-00-{next(serials):04d}", **changes)

    later_hire = (date.fromisoformat(a["employee_hire_date"]) + timedelta(days=10)).isoformat()
    dup_a = variant(a, employee_hire_date=later_hire, eligibility_entry_date=later_hire,
                    employee_gross_compensation="51000.00")                    # later hire: this copy wins
    dup_b = variant(b, employee_gross_compensation=f"{Decimal(b['employee_gross_compensation']) + 1000:.2f}")  # wins
    dup_c = variant(c, employee_gross_compensation=f"{Decimal(c['employee_gross_compensation']) - 1000:.2f}")  # loses
    dup_d = variant(d, employee_gross_compensation="-100.00")                  # rejected, not a duplicate
    blank_birth_existing = e["employee_id"]                                    # a census person loses their row
    for row in rows:
        if row["employee_id"] == blank_birth_existing:
            row["employee_birth_date"] = ""

    terminated = newcomer("MESSY_TERM_1", employee_termination_date="2024-12-15", active="false")
    added = [
        dup_a, dup_b, dup_c, dup_d,
        newcomer("MESSY_NOBIRTH_1", employee_birth_date=""),
        newcomer("MESSY_NOHIRE_1", employee_hire_date=""),
        newcomer("MESSY_ZEROPAY_1", employee_gross_compensation="0"),
        newcomer("MESSY_NEGPAY_1", employee_gross_compensation="-5000.00"),
        newcomer("MESSY_BADDATE_1", employee_birth_date="1980-13-45"),       # malformed: rejected, not coerced
        terminated,
        newcomer("  MESSY_TRIM_1  "),                                          # staged as MESSY_TRIM_1
        newcomer(""),                                                          # no id at all
    ]
    all_rows = rows + added
    missing_id_row = len(all_rows)  # the blank id is the last data row (header not counted)
    path = write_csv(tmp_path / "messy_census.csv", header + ["department"],
                     [[r[h] for h in header] + [f"dept_{i % 7}"] for i, r in enumerate(all_rows)])

    # expected staged rows, by hand: the 300 people, minus the one with a blank birth date, with the winning
    # duplicates' values, plus the terminated newcomer and the trimmed id
    expected = {r["employee_id"]: r for r in rows if r["employee_id"] != blank_birth_existing}
    expected[a["employee_id"]] = dup_a
    expected[b["employee_id"]] = dup_b
    expected["MESSY_TERM_1"] = terminated
    expected["MESSY_TRIM_1"] = {**added[10], "employee_id": "MESSY_TRIM_1"}
    return path, {
        "rows": expected,
        "rows_read": len(all_rows),
        "duplicates": 3,
        "duplicate_ids": [a["employee_id"], b["employee_id"], c["employee_id"]],
        "rejected": 8,
        "missing_birth": [blank_birth_existing, "MESSY_NOBIRTH_1"],
        "missing_hire": ["MESSY_NOHIRE_1"],
        "bad_pay": [d["employee_id"], "MESSY_ZEROPAY_1", "MESSY_NEGPAY_1"],
        "malformed": ["MESSY_BADDATE_1"],
        "missing_id_row": missing_id_row,
    }


def _is_active(row: dict) -> bool:
    return not row["employee_termination_date"] and row["active"].strip().lower() != "false"


def test_messy_census_is_staged_reported_and_simulated(tmp_path):
    census, expect = build_messy_census(tmp_path)
    db = tmp_path / "simulation.duckdb"
    done = cli(["run", "--years", "2025-2025", "--census", census, "--db", db,
                "--config", default_config(tmp_path), "--threads", "2"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    expected_rows = expect["rows"]
    active = sum(_is_active(r) for r in expected_rows.values())
    terminated = len(expected_rows) - active

    # the staging report on the console: counts, then one line per problem with sample ids
    out = done.stdout
    summary = next((line for line in out.splitlines() if "rows read" in line), None)
    assert summary is not None, out
    for count, words in [(expect["rows_read"], "rows read"), (active, "active"),
                         (terminated, "already terminated"), (expect["duplicates"], "duplicates dropped"),
                         (expect["rejected"], "rejected")]:
        assert re.search(rf"\b{count:,} {words}\b", summary), f"{count} {words} missing from: {summary}"

    def line_with(*needles: str) -> str:
        found = [line for line in out.splitlines() if all(n in line for n in needles)]
        assert found, f"no report line naming {needles}:\n{out}"
        return found[0]

    line_with("employee_birth_date", *expect["missing_birth"])
    line_with("employee_hire_date", *expect["missing_hire"])
    line_with("compensation", *expect["bad_pay"])
    line_with("malformed", *expect["malformed"])
    line_with("employee_id", f"row {expect['missing_id_row']}")
    line_with("duplicate", *expect["duplicate_ids"])
    line_with("department")

    with duckdb.connect(str(db), read_only=True) as con:
        staged = con.execute(
            "select employee_id, employee_ssn, employee_hire_date, employee_termination_date, "
            "employee_gross_compensation, active from raw_census"
        ).fetchall()
        start_headcount, = con.execute(
            "select start_headcount from int_workforce_needs where simulation_year = 2025").fetchone()
        continuing, = con.execute(
            "select count(*) from fct_workforce_snapshot where simulation_year = 2025 "
            "and employee_id in (select employee_id from raw_census where active)").fetchone()
        leavers, = con.execute(
            "select count(*) from fct_workforce_snapshot where simulation_year = 2025 "
            "and employee_id in (select employee_id from raw_census where not active)").fetchone()

    want = {
        (key, r["employee_ssn"], date.fromisoformat(r["employee_hire_date"]),
         date.fromisoformat(r["employee_termination_date"]) if r["employee_termination_date"] else None,
         Decimal(r["employee_gross_compensation"]), _is_active(r))
        for key, r in expected_rows.items()
    }
    assert len(staged) == len(want) == SMALL_CENSUS + 1
    assert set(staged) == want
    assert start_headcount == active
    assert continuing == active  # every active staged person is in the 2025 snapshot
    assert leavers == 0  # people who left during the census year are not in the start population
    assert re.search(rf"^2025: {active:,} -> ", out, re.MULTILINE), out


# ------------------------------------------------------------------------------------------------ bad census


def _missing_column(tmp_path: Path) -> Path:
    with small_census(tmp_path).open(newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("employee_hire_date")
    return write_csv(tmp_path / "no_hire_date.csv", [h for i, h in enumerate(rows[0]) if i != drop],
                     [[v for i, v in enumerate(r) if i != drop] for r in rows[1:]])


def _header_only(tmp_path: Path) -> Path:
    with small_census(tmp_path).open(newline="") as handle:
        header = next(csv.reader(handle))
    return write_csv(tmp_path / "empty.csv", header, [])


def _garbage_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def _nonexistent(tmp_path: Path) -> Path:
    return tmp_path / "no_such_census.csv"


def _wrong_suffix(tmp_path: Path) -> Path:
    path = tmp_path / "census.txt"
    shutil.copyfile(small_census(tmp_path), path)  # valid CSV content, wrong name
    return path


@pytest.mark.parametrize(("make", "needles"), [
    pytest.param(_missing_column, ["employee_hire_date", "missing"], id="missing-required-column"),
    pytest.param(_header_only, ["empty.csv", "empty"], id="header-only"),
    pytest.param(_garbage_parquet, ["garbage.parquet", "parquet"], id="garbage-parquet"),
    pytest.param(_nonexistent, ["no_such_census.csv"], id="nonexistent-path"),
    pytest.param(_wrong_suffix, ["census.txt", ".txt"], id="wrong-suffix"),
])
def test_bad_census_exits_2_and_writes_nothing(tmp_path, existing_db, make, needles):
    census = make(tmp_path)
    args = ["run", "--years", "2025-2025", "--census", census, "--config", default_config(tmp_path)]
    assert_rejected_without_writing(tmp_path, existing_db, args, *needles)


# ------------------------------------------------------------------------------------------------ bad years


@pytest.mark.parametrize(("years", "needles"), [
    pytest.param("2029-2025", ["2029-2025", "2025-2029"], id="reversed"),           # names the corrected range
    pytest.param("abc", ["abc", "START-END"], id="not-a-range"),                    # says how to write it
    pytest.param("2034-2037", ["2036", "2037", "config_irs_limits"], id="no-irs-limits"),  # where to add them
])
def test_bad_years_exit_2_and_write_nothing(tmp_path, existing_db, years, needles):
    args = ["run", "--years", years, "--census", small_census(tmp_path), "--config", default_config(tmp_path)]
    named = "--years" if years != "2034-2037" else "IRS"
    assert_rejected_without_writing(tmp_path, existing_db, args, named, *needles)


# ------------------------------------------------------------------------------------------------ bad config


def _config(text: str):
    def make(tmp_path: Path) -> list[str]:
        path = tmp_path / "bad_config.yaml"
        path.write_text(text)
        return ["--config", path]
    return make


def _args(*extra: str):
    return lambda tmp_path: ["--config", default_config(tmp_path), *extra]


@pytest.mark.parametrize(("make", "needles"), [
    pytest.param(_config("compensation:\n  merit_budgett: 0.03\n"),
                 ["compensation.merit_budgett", "unknown"], id="unknown-key"),
    pytest.param(_config("compensation:\n  merit_budget: high\n"),
                 ["compensation.merit_budget", "high"], id="wrong-type"),
    pytest.param(_config("simulation:\n  random_sed: 1\nworkforce:\n  total_termination_rate: lots\n"
                         "employer_core_contribution:\n  minimum_hours: 5000\npromotion:\n  base_rate: true\n"),
                 ["simulation.random_sed", "workforce.total_termination_rate",
                  "employer_core_contribution.minimum_hours", "promotion.base_rate"], id="several-problems"),
    pytest.param(_args("--threads", "0"), ["--threads", "0"], id="threads-0"),
    pytest.param(_args("--seed", "-1"), ["--seed", "-1"], id="seed-negative"),
    pytest.param(_args("--memory-limit", "lots"), ["--memory-limit", "lots", "2GB"], id="memory-limit-no-size"),
    pytest.param(_args("--memory-limit", "100MB"), ["--memory-limit", "100MB", "256MiB"], id="memory-limit-too-small"),
])
def test_bad_config_or_arguments_exit_2_and_write_nothing(tmp_path, existing_db, make, needles):
    args = ["run", "--years", "2025-2025", "--census", small_census(tmp_path), *make(tmp_path)]
    assert_rejected_without_writing(tmp_path, existing_db, args, *needles)


# ------------------------------------------------------------------------------------------------ census generate


def test_census_generate_is_deterministic(tmp_path):
    first = cli(["census", "generate", "--employees", "100", "--out", "x.parquet"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "x.parquet"
    once = out.read_bytes()
    again = cli(["census", "generate", "--employees", "100", "--out", "x.parquet"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert out.read_bytes() == once, "same arguments, different bytes"
    assert cli(["census", "generate", "--employees", "100", "--out", "y.parquet"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "y.parquet").read_bytes() == once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet", "y.parquet"]  # no temp files left
    with duckdb.connect() as con:
        count, ids, columns = con.execute(
            "select count(*), count(distinct employee_id), (select count(*) from "
            "(describe select * from read_parquet($p))) from read_parquet($p)", {"p": str(out)}).fetchone()
    assert (count, ids, columns) == (100, 100, 18)  # the census format's columns but vesting_service_years


def test_census_generate_zero_employees_exits_2(tmp_path):
    done = cli(["census", "generate", "--employees", "0", "--out", "x.parquet"], cwd=tmp_path)
    assert_one_error_line(done, "--employees", "0")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ database selection


def _run_without_db(tmp_path: Path, env: dict[str, str] | None = None, *extra: str) -> subprocess.CompletedProcess:
    done = cli(["run", "--years", "2025-2025", "--census", small_census(tmp_path),
                "--config", default_config(tmp_path), "--threads", "2", *extra], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return done


def databases(tmp_path: Path) -> set[Path]:
    return {p.relative_to(tmp_path) for p in tmp_path.rglob("*.duckdb") if p.is_file()}  # not .checkpoints/<db>/


def assert_simulated(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw_census").fetchone()[0] == SMALL_CENSUS
        assert con.execute("select count(*) from fct_workforce_snapshot where simulation_year = 2025").fetchone()[0] > 0


def _folders(tmp_path: Path, *names: str) -> None:
    for name in names:
        (tmp_path / name).mkdir()


def test_db_path_environment_variable_selects_the_database(tmp_path):
    _folders(tmp_path, "env")
    _run_without_db(tmp_path, {"DB_PATH": str(tmp_path / "env" / "sim.duckdb")})
    assert databases(tmp_path) == {Path("env/sim.duckdb")}
    assert_simulated(tmp_path / "env" / "sim.duckdb")


def test_dotenv_file_in_cwd_selects_the_database(tmp_path):
    _folders(tmp_path, "dotenv")
    (tmp_path / ".env").write_text("# planwise settings\nDB_PATH=dotenv/sim.duckdb\n")  # relative to cwd
    _run_without_db(tmp_path)
    assert databases(tmp_path) == {Path("dotenv/sim.duckdb")}
    assert_simulated(tmp_path / "dotenv" / "sim.duckdb")


def test_environment_beats_dotenv(tmp_path):
    _folders(tmp_path, "env", "dotenv")
    (tmp_path / ".env").write_text(f"DB_PATH={tmp_path / 'dotenv' / 'sim.duckdb'}\n")
    _run_without_db(tmp_path, {"DB_PATH": str(tmp_path / "env" / "sim.duckdb")})
    assert databases(tmp_path) == {Path("env/sim.duckdb")}


def test_db_option_beats_environment_and_dotenv(tmp_path):
    _folders(tmp_path, "env", "dotenv", "cli")
    (tmp_path / ".env").write_text(f"DB_PATH={tmp_path / 'dotenv' / 'sim.duckdb'}\n")
    _run_without_db(tmp_path, {"DB_PATH": str(tmp_path / "env" / "sim.duckdb")},
                    "--db", str(tmp_path / "cli" / "sim.duckdb"))
    assert databases(tmp_path) == {Path("cli/sim.duckdb")}
    assert_simulated(tmp_path / "cli" / "sim.duckdb")
    assert not [p for name in ("env", "dotenv") for p in (tmp_path / name).iterdir()], "files written beside a loser"
