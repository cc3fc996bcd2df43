"""The years a run simulates: parsed from `--years` and checked against the IRS limits seed before anything runs."""

import csv
import re

from ..errors import InputError
from .paths import DBT_DIR

IRS_LIMITS_SEED = DBT_DIR / "seeds" / "config_irs_limits.csv"
WAGE_BASE_SEED = DBT_DIR / "seeds" / "config_ss_wage_base.csv"
_RANGE = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def parse_years(text: str) -> tuple[int, int]:
    """'2025-2029' or '2025' -> (start, end); anything else is an InputError saying how to write it."""
    match = _RANGE.match(text or "")
    if not match:
        raise InputError(f"--years {text!r} is not a year range", "write it as START-END, e.g. --years 2025-2029")
    start = int(match.group(1))
    end = int(match.group(2) or start)
    if start > end:
        raise InputError(f"--years {text}: the start year is after the end year",
                         f"write it as --years {end}-{start}")
    return start, end


def limit_rows(seed=IRS_LIMITS_SEED) -> dict[int, dict[str, str]]:
    """A per-year limits seed (the IRS limits, or the wage base) as {year: row}: the one reader of those files on the
    Python side (the year is the first column)."""
    with seed.open(newline="") as handle:
        return {int(next(iter(row.values()))): row for row in csv.DictReader(handle)}


def supported_years() -> set[int]:
    """Years that have a row in the IRS limits seed (a year without one cannot be simulated)."""
    return set(limit_rows())


def projected_years(start: int, end: int, seed=IRS_LIMITS_SEED) -> list[int]:
    """Years of start..end whose IRS limits (or wage base) are projections, not published values (`projected`)."""
    rows = limit_rows(seed)
    return [year for year in range(start, end + 1) if rows.get(year, {}).get("projected", "").lower() == "true"]


def check_years_supported(start: int, end: int) -> None:
    """Fail before anything is written when a year has no IRS limit row: never a silent zero limit."""
    missing = [year for year in range(start, end + 1) if year not in supported_years()]
    if missing:
        listed = ", ".join(str(year) for year in missing)
        raise InputError(f"no IRS contribution limits for {listed} in {IRS_LIMITS_SEED.name}",
                         f"add rows for {listed} to dbt/seeds/{IRS_LIMITS_SEED.name} or simulate fewer years")
