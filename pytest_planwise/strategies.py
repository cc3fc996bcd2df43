"""Hypothesis strategies for PlanWise inputs: valid config overrides and small PlanWise-format censuses.

Strategies only make inputs; tests build runs from them with `planwise_run` (each distinct input is run once,
never once per shrink step of the same value) or write censuses with `write_census`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import strategies as st

from navigator_orchestrator.census import COLUMN_NAMES
from navigator_orchestrator.config import SimulationConfig

#: The ranges the harness explores by default (dotted key -> (low, high)).
DEFAULT_CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "simulation.target_growth_rate": (0.0, 0.2),
    "workforce.total_termination_rate": (0.05, 0.3),
    "workforce.new_hire_termination_rate": (0.0, 0.5),
    "compensation.merit_budget": (0.0, 0.1),
}


def config_overrides(ranges: dict[str, tuple[float, float]] | None = None, places: int = 3) -> st.SearchStrategy:
    """Dicts {dotted key: value} with every value inside its range, rounded to `places` decimals."""
    ranges = ranges or DEFAULT_CONFIG_RANGES
    step = 10 ** places
    return st.fixed_dictionaries({
        key: st.integers(round(lo * step), round(hi * step)).map(lambda n: n / step)
        for key, (lo, hi) in ranges.items()
    })


def valid_configs(ranges: dict[str, tuple[float, float]] | None = None) -> st.SearchStrategy[SimulationConfig]:
    """Complete validated configs: the defaults with `config_overrides` applied."""
    return config_overrides(ranges).map(lambda overrides: SimulationConfig().with_overrides(overrides))


@st.composite
def census_rows(draw: Any, min_size: int = 20, max_size: int = 200,
                census_date: dt.date = dt.date(2024, 12, 31)) -> list[dict[str, Any]]:
    """A small, valid census as rows (dicts in the PlanWise column order); at least one active person."""
    size = draw(st.integers(min_size, max_size))
    rows = []
    for number in range(1, size + 1):
        age = draw(st.integers(22, 65))
        tenure = draw(st.integers(0, min(30, age - 18)))
        birth = census_date - dt.timedelta(days=age * 365 + draw(st.integers(0, 364)))
        hire = census_date - dt.timedelta(days=tenure * 365 + draw(st.integers(0, 364)))
        pay = draw(st.integers(400, 3500)) * 100
        deferral = draw(st.sampled_from([0.0, 0.0, 0.03, 0.05, 0.06, 0.08, 0.1, 0.15]))
        leaves = number > 1 and draw(st.booleans().map(lambda b: b and draw(st.integers(0, 7)) == 0))
        termination = max(hire, census_date - dt.timedelta(days=draw(st.integers(1, 300)))) if leaves else None
        rows.append({
            "employee_id": f"EMP_2024_{number:06d}", "employee_ssn": f"{100 + number % 800:03d}-01-{number:04d}",
            "employee_birth_date": birth, "employee_hire_date": hire, "employee_termination_date": termination,
            "employee_gross_compensation": pay, "employee_capped_compensation": min(pay, 350000),
            "employee_deferral_rate": deferral, "employee_contribution": 0, "pre_tax_contribution": 0,
            "roth_contribution": 0, "after_tax_contribution": 0, "employer_core_contribution": 0,
            "employer_match_contribution": 0, "eligibility_entry_date": hire, "active": termination is None,
        })
    return rows


def write_census(rows: list[dict[str, Any]], path: Path) -> Path:
    """Write rows as a PlanWise census (.csv or .parquet, by suffix) with DuckDB."""
    with duckdb.connect() as con:
        con.execute("create table census as select * from (values " +
                    ", ".join("(" + ", ".join("?" for _ in COLUMN_NAMES) + ")" for _ in rows) +
                    ") as t(" + ", ".join(COLUMN_NAMES) + ")",
                    [row[column] for row in rows for column in COLUMN_NAMES])
        kind = "csv, header true" if path.suffix == ".csv" else "parquet"
        con.execute(f"copy census to '{path}' (format {kind})")
    return path
