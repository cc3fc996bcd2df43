"""Hypothesis strategies for PlanWise inputs: valid config overrides and small PlanWise-format censuses.

Strategies only make inputs; tests build runs from them with `planwise_run` (each distinct input is run once,
never once per shrink step of the same value) or write censuses with `write_census`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import strategies as st

from navigator_orchestrator.inputs.census import COLUMN_NAMES
from navigator_orchestrator.inputs.config import (BANDS, BOOL, CHOICE, CROSS_RULES, DATE, FORMULA_LISTS, INT,
                                                 LEGAL_CLIFF_YEARS, LEGAL_GRADED, NUMBER, MATCH_CONDITIONS,
                                                 PERMITTED_DISPARITY, SAFE_HARBOR_MATCHES, SAFE_HARBOR_VESTING,
                                                 SCHEDULE, SCHEMA, SERVICE_TIERS, TIERS, Setting, SimulationConfig)

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


#: Simulated keys a run's arguments set instead (`planwise_run(years=..., seed=...)`): the years must lie in the
#: IRS limits table, so they are not drawn from their declared 1900..2200.
RUN_KEYS = frozenset({"simulation.start_year", "simulation.end_year", "simulation.random_seed"})


def setting_values(setting: Setting, places: int = 3, within: tuple[Any, Any] | None = None) -> st.SearchStrategy:
    """Any value of one key inside its declared range (config.SCHEMA), or inside `within` (which must lie in it):
    numbers on a grid of 10^-places with open bounds left out, integers, dates, booleans and choices."""
    if setting.kind == TIERS:
        return tier_lists(places)
    if setting.kind == SERVICE_TIERS:
        return st.lists(st.tuples(st.integers(1, 15), tier_lists(places)), min_size=1, max_size=3).map(
            lambda bands: [{"min_years": sum(gap for gap, _ in bands[1:i]), "tiers": tiers}
                           for i, (_, tiers) in enumerate(bands, 1)])
    if setting.kind == BANDS:
        rates = st.integers(0, round(0.15 * 10 ** places)).map(lambda rate: rate / 10 ** places)
        return st.lists(st.tuples(st.integers(1, 30), rates), min_size=1, max_size=4).map(
            lambda bands: [{"min": sum(gap for gap, _ in bands[1:i]), "rate": rate}
                           for i, (_, rate) in enumerate(bands, 1)])
    if setting.kind == SCHEDULE:
        return vesting_schedules()
    if setting.optional and within is None:
        return st.none() | setting_values(dataclasses.replace(setting, optional=False), places)
    lo, hi = within or (setting.lo, setting.hi)
    if within is not None and not (setting.check(lo)[1] is None and setting.check(hi)[1] is None):
        raise ValueError(f"{setting.key}: {within} is not inside its declared range ({setting.allowed})")
    if setting.kind == NUMBER:
        step = 10 ** places
        return st.integers(round(lo * step) + (lo == setting.lo and setting.lo_open),
                           round(hi * step) - (hi == setting.hi and setting.hi_open)).map(lambda n: n / step)
    if setting.kind == INT and setting.choices:  # an integer from a short list (pay periods per year)
        return st.sampled_from([c for c in setting.choices if within is None or lo <= c <= hi])
    if setting.kind == INT:
        return st.integers(lo, hi)
    if setting.kind == DATE:
        return st.dates(lo, hi)
    if setting.kind == BOOL:
        return st.booleans()
    if setting.kind == CHOICE:
        return st.sampled_from(setting.choices)
    raise ValueError(f"{setting.key}: no strategy for kind {setting.kind!r}")


def tier_lists(places: int = 3) -> st.SearchStrategy:
    """A match tier list: 1-4 tiers, rates in 0..1 and up_to strictly increasing shares of pay up to 0.15."""
    step = 10 ** places
    return st.lists(st.integers(1, round(0.15 * step)), min_size=1, max_size=4, unique=True).flatmap(
        lambda ups: st.lists(st.integers(0, step), min_size=len(ups), max_size=len(ups)).map(
            lambda rates: [{"rate": rate / step, "up_to": up / step} for rate, up in zip(rates, sorted(ups))]))


def vesting_schedules() -> st.SearchStrategy:
    """A custom vesting schedule the law allows: the percents after 0..6 years of vesting service, each at least
    the 3-year cliff's or (drawn which) the 2-to-6-year graded schedule's and never falling, written as one
    {years, percent} step wherever the percent rises (so 100 % by 6 years at the latest)."""
    cliff = {years: 100 if years >= LEGAL_CLIFF_YEARS else 0 for years in range(7)}
    graded = {years: LEGAL_GRADED.get(years, 0) for years in range(7)}

    def steps(floor: dict[int, float], extras: list[int]) -> list[dict[str, Any]]:
        out, vested = [], 0
        for years, extra in zip(range(7), extras):
            percent = min(100, max(vested, round(floor[years]) + extra))
            if percent > vested:
                out.append({"years": years, "percent": percent})
            vested = percent
        return out

    return st.tuples(st.sampled_from([cliff, graded]), st.lists(st.integers(0, 60) | st.just(0), min_size=7,
                                                                  max_size=7)).map(lambda drawn: steps(*drawn))


def _with_formula_lists(values: dict[str, Any]) -> dict[str, Any]:
    """A formula's own keys are kept only under that formula, and set under it (the config refuses either way
    otherwise); an integrated core's excess rate is brought within the permitted disparity; a safe harbor match
    carries no hours, service or last-day condition and vests as the law requires of it."""
    out = dict(values)
    if out.get("employer_match.formula") in SAFE_HARBOR_MATCHES:
        out.update({key: free[0] for key, free in MATCH_CONDITIONS.items() if key in out})
        vests = SAFE_HARBOR_VESTING[out["employer_match.formula"]]
        if out.get("vesting.match.schedule", vests[0]) not in vests:
            out["vesting.match.schedule"] = vests[-1]
    for listed, formula_key, formulas in FORMULA_LISTS:
        if listed not in out:
            continue
        if out.get(formula_key) not in formulas:
            out[listed] = [] if isinstance(out[listed], list) else None
        elif out[listed] is None:
            out[listed] = 0.05
    base, excess = out.get("employer_core_contribution.base_rate"), out.get("employer_core_contribution.excess_rate")
    if base is not None and excess is not None:
        widest = round(base + min(base, float(PERMITTED_DISPARITY)), 6)
        out["employer_core_contribution.excess_rate"] = min(excess, widest)
    return out


def simulated_config_overrides(places: int = 3, exclude: frozenset[str] = RUN_KEYS,
                               within: dict[str, tuple[Any, Any]] | None = None) -> st.SearchStrategy:
    """Dicts {dotted key: value} over every simulated key of config.SCHEMA but `exclude`, each value drawn from
    its declared range (negative target growth included) or the narrower `within` range given for it, with the
    cross-key rules (raise_min <= raise_max) kept. Derived from the schema: a new key is explored once declared."""
    within = within or {}
    keys = [s for s in SCHEMA if s.simulated and s.key not in exclude]
    unknown = set(within) - {s.key for s in keys}
    if unknown:
        raise ValueError(f"within: not drawn simulated keys {sorted(unknown)}")
    return st.fixed_dictionaries({s.key: setting_values(s, places, within.get(s.key)) for s in keys}).map(
        _with_formula_lists).filter(
        lambda values: all(values[lo] <= values[hi] for lo, hi in CROSS_RULES if lo in values and hi in values))

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
    """Write rows as a PlanWise census (.csv or .parquet, by suffix) with DuckDB: the census columns the first row
    has, in the format's order (optional columns such as the opening balances only when the rows carry them)."""
    columns = [column for column in COLUMN_NAMES if column in rows[0]]
    with duckdb.connect() as con:
        con.execute("create table census as select * from (values " +
                    ", ".join("(" + ", ".join("?" for _ in columns) + ")" for _ in rows) +
                    ") as t(" + ", ".join(columns) + ")",
                    [row[column] for row in rows for column in columns])
        kind = "csv, header true" if path.suffix == ".csv" else "parquet"
        con.execute(f"copy census to '{path}' (format {kind})")
    return path
