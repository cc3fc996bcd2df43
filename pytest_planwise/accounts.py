"""The employer-money accounts and the employer's cost recomputed in plain Python (docs/simulation.md "Vesting and
forfeitures"), independently of the SQL of fct_employer_accounts and fct_employer_cost.

Inputs are only what the rule is written on: the snapshot (who is employed, the year's match and core, the
termination date, plan pay and the stored years of vesting service), the hire events, the census's opening balances
and years of vesting service, and the run's config. Everything else (openings, earnings, vesting, forfeitures, the
forfeiture pool and its reallocation, the cost rows and the years of vesting service themselves) is recomputed with
decimal.Decimal, each year from this module's own previous year, never from the engine's stored results.

The vesting schedules are written out here, not imported from the engine's config module, so a wrong schedule
there is caught rather than copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .invariants import CENT, Ctx, round_half_up

HUNDRED = Decimal(100)
ZERO = Decimal(0)
SOURCES = ("match", "core")
REALLOCATION = "reallocation"
ACCOUNT_FIELDS = ("opening_balance", "contributions", "earnings", "vested_percent", "vested_balance",
                  "forfeited_amount", "closing_balance")
COST_FIELDS = ("employer_match", "employer_core", "gross_employer_cost", "forfeitures", "forfeitures_available",
               "forfeitures_used", "forfeitures_reallocated", "forfeiture_balance", "net_employer_cost")


def money(value: Decimal) -> Decimal:
    """To the cent, half away from zero."""
    return round_half_up(value, CENT)


# --------------------------------------------------------------------------------------------- vesting schedules


def _graded_2_to_6(years: int) -> Decimal:
    return ZERO if years < 2 else min(HUNDRED, Decimal(20) * (years - 1))


def _graded_1_to_5(years: int) -> Decimal:
    return min(HUNDRED, Decimal(20) * max(0, years))


def _cliff(n: int):
    return lambda years: HUNDRED if years >= n else ZERO


SCHEDULES = {
    "immediate": lambda years: HUNDRED,
    "cliff_1": _cliff(1),
    "cliff_2": _cliff(2),
    "cliff_3": _cliff(3),
    "qaca_2_year": _cliff(2),
    "graded_2_to_6": _graded_2_to_6,
    "graded_1_to_5": _graded_1_to_5,
}


def vested_percent(cfg: dict, source: str, years: int) -> Decimal:
    """Percent (0..100) of `source`'s account vested after `years` of vesting service; reallocation follows core."""
    section = "core" if source == REALLOCATION else source
    schedule = cfg[f"vesting.{section}.schedule"]
    if schedule == "custom":
        percent = ZERO
        for step in cfg[f"vesting.{section}.custom"]:
            at, pct = (step["years"], step["percent"]) if isinstance(step, dict) else step
            if at <= years:
                percent = Decimal(str(pct))
        return percent
    return SCHEDULES[schedule](years)


# --------------------------------------------------------------------------------------------- inputs


@dataclass
class Person:
    """One snapshot row with what the rule reads."""

    employee_id: str
    year: int
    hire_date: date
    termination_date: date | None
    plan_compensation: Decimal
    match: Decimal
    core: Decimal
    vesting_service_years: int | None  # as stored in the snapshot
    is_hire: bool  # hired in this year (a hire event)


@dataclass
class Recomputed:
    accounts: dict[tuple[int, str, str], dict] = field(default_factory=dict)  # (year, employee, source) -> fields
    costs: dict[int, dict] = field(default_factory=dict)
    service: dict[tuple[int, str], int] = field(default_factory=dict)  # (year, employee) -> years of vesting service


def _census(con) -> dict[str, tuple[Decimal, Decimal, int | None]]:
    """raw_census's opening match and core balances (NULL or absent: 0) and vesting service (None when absent)."""
    columns = {row[0] for row in con.execute("select * from raw_census limit 0").description}
    pick = [f"{name}" if name in columns else "NULL"
            for name in ("employer_match_balance", "employer_core_balance", "vesting_service_years")]
    out = {}
    for emp, match, core, service in con.execute(f"select employee_id, {', '.join(pick)} from raw_census").fetchall():
        out[emp] = (Decimal(match or 0), Decimal(core or 0), None if service is None else int(service))
    return out


def read_people(con) -> dict[int, list[Person]]:
    """Every snapshot row by year, in employee_id order."""
    rows = con.execute("""
        select s.employee_id, s.simulation_year, s.employee_hire_date, s.termination_date, s.plan_compensation,
               s.employer_match_amount, s.employer_core_amount, s.vesting_service_years, h.employee_id is not null
        from fct_workforce_snapshot s
        left join (select distinct employee_id, simulation_year from fct_yearly_events where event_type = 'hire') h
               on h.employee_id = s.employee_id and h.simulation_year = s.simulation_year
        order by s.simulation_year, s.employee_id
    """).fetchall()
    by_year: dict[int, list[Person]] = {}
    for emp, year, hired, terminated, plan, match, core, service, is_hire in rows:
        by_year.setdefault(year, []).append(Person(emp, year, hired, terminated, Decimal(plan or 0),
                                                   Decimal(match or 0), Decimal(core or 0), service, bool(is_hire)))
    return by_year


# --------------------------------------------------------------------------------------------- the rule


def _days_in_year(year: int) -> int:
    return (date(year + 1, 1, 1) - date(year, 1, 1)).days


def service_added(cfg: dict, person: Person) -> int:
    """The year of vesting service person.year adds: elapsed, 1 except in a hire's own hire year; hours, 1 when
    2080 x days employed / days in year reaches vesting.hours_per_year (exactly, in integers)."""
    if cfg["vesting.service"] == "elapsed":
        return 0 if person.is_hire else 1
    year = person.year
    first, last = max(person.hire_date, date(year, 1, 1)), person.termination_date or date(year, 12, 31)
    days = max(0, (min(last, date(year, 12, 31)) - first).days + 1)
    return 1 if 2080 * days >= int(cfg["vesting.hours_per_year"]) * _days_in_year(year) else 0


def allocate(pool: Decimal, comps: dict[str, Decimal]) -> dict[str, Decimal]:
    """`pool` split pro rata to `comps` in whole cents: floor(pool_cents x comp / total) each, the cents left one
    each to the largest remainders (ties: lower employee_id first). Exact integer arithmetic on cents."""
    pool_cents = int((pool * 100).to_integral_exact())
    cents = {emp: int((comp * 100).to_integral_exact()) for emp, comp in comps.items()}
    total = sum(cents.values())
    if total <= 0:
        return {emp: ZERO for emp in comps}
    share = {emp: pool_cents * c // total for emp, c in cents.items()}
    remainder = {emp: pool_cents * c % total for emp, c in cents.items()}
    for emp in sorted(cents, key=lambda e: (-remainder[e], e))[:pool_cents - sum(share.values())]:
        share[emp] += 1
    return {emp: Decimal(c).scaleb(-2) for emp, c in share.items()}


def recompute(ctx: Ctx) -> Recomputed:
    """Every account row, every cost row and every person-year's vesting service of a run, by the rule."""
    con, cfg, years = ctx.con, ctx.cfg, sorted(ctx.years)
    y0 = years[0]
    census = _census(con)
    people = read_people(con)
    annual_return = Decimal(str(cfg["accounts.annual_return"]))
    use = cfg["forfeitures.use"]
    sources = SOURCES + ((REALLOCATION,) if use == "reallocate" else ())
    out = Recomputed()
    closing: dict[tuple[str, str], Decimal] = {}  # (employee, source) -> last year's closing (this module's)
    service: dict[str, int] = {}  # employee -> years of vesting service after last year (this module's)
    carried = ZERO  # last year's forfeiture_balance
    for year in years:
        rows = people.get(year, [])
        # --- the cost row's inputs known before the accounts: the pool carried in and who shares it
        gross_match = sum((p.match for p in rows), ZERO)
        gross_core = sum((p.core for p in rows), ZERO)
        gross = gross_match + gross_core
        sharers = {p.employee_id: p.plan_compensation for p in rows
                   if p.termination_date is None and p.plan_compensation > 0}
        used = min(carried, gross) if use == "reduce_employer_contributions" else ZERO
        reallocated = carried if use == "reallocate" and sharers else ZERO
        shares = allocate(reallocated, sharers) if reallocated else {}
        forfeitures = ZERO
        previous_closing, closing = closing, {}
        previous_service, service = service, {}
        for p in rows:
            # --- years of vesting service
            if p.is_hire:
                before = 0
            elif year == y0:
                census_service = census.get(p.employee_id, (ZERO, ZERO, None))[2]
                before = census_service if census_service is not None else max(0, y0 - 1 - p.hire_date.year)
            else:
                before = previous_service.get(p.employee_id, 0)
            service[p.employee_id] = before + service_added(cfg, p)
            out.service[(year, p.employee_id)] = service[p.employee_id]
            # --- the accounts, on the snapshot's stored vesting service
            stored_service = p.vesting_service_years if p.vesting_service_years is not None else 0
            terminated = p.termination_date is not None
            for source in sources:
                if year == y0:
                    opening = ZERO if p.is_hire or source == REALLOCATION else \
                        census.get(p.employee_id, (ZERO, ZERO, None))[0 if source == "match" else 1]
                else:
                    opening = previous_closing.get((p.employee_id, source), ZERO)
                contributions = {"match": p.match, "core": p.core}.get(source) if source != REALLOCATION \
                    else shares.get(p.employee_id, ZERO)
                earnings = money(opening * annual_return)
                balance = opening + contributions + earnings
                percent = vested_percent(cfg, source, stored_service)
                vested = money(balance * percent / HUNDRED)
                forfeited = balance - vested if terminated else ZERO
                closes = vested if terminated else balance
                closing[(p.employee_id, source)] = closes
                forfeitures += forfeited
                out.accounts[(year, p.employee_id, source)] = {
                    "opening_balance": opening, "contributions": contributions, "earnings": earnings,
                    "vested_percent": percent, "vested_balance": vested, "forfeited_amount": forfeited,
                    "closing_balance": closes}
        balance = forfeitures if use == "pay_plan_expenses" else carried - used - reallocated + forfeitures
        out.costs[year] = {
            "employer_match": gross_match, "employer_core": gross_core, "gross_employer_cost": gross,
            "forfeitures": forfeitures, "forfeitures_available": carried, "forfeitures_used": used,
            "forfeitures_reallocated": reallocated, "forfeiture_balance": balance, "net_employer_cost": gross - used}
        carried = balance
    return out


# --------------------------------------------------------------------------------------------- comparison


def _stored(con, table: str, key: tuple[str, ...], fields: tuple[str, ...]) -> tuple[dict, list[str]]:
    """Stored rows of `table` by key; the rule's fields the table does not have are returned as absent."""
    columns = {row[0] for row in con.execute(f"select * from {table} limit 0").description}
    present = [f for f in fields if f in columns]
    rows = con.execute(f"select {', '.join(key + tuple(present))} from {table}").fetchall()
    stored: dict = {}
    for row in rows:
        k = row[:len(key)] if len(key) > 1 else row[0]
        stored.setdefault(k, []).append(dict(zip(present, row[len(key):])))
    return stored, [f for f in fields if f not in columns]


def differences(ctx: Ctx) -> list[str]:
    """Every stored row of fct_employer_accounts and fct_employer_cost and the snapshot's vesting service against
    the recomputation, in (year, employee, source, field) order: one line each, worst-first is not attempted (the
    earliest year's differences come first, and later years may only inherit them)."""
    con, cfg = ctx.con, ctx.cfg
    expected = recompute(ctx)
    lines: list[tuple] = []

    service = {(year, emp): svc for emp, year, svc in con.execute(
        "select employee_id, simulation_year, vesting_service_years from fct_workforce_snapshot").fetchall()}
    for key, want in expected.service.items():
        if service.get(key) != want:
            lines.append((key[0], key[1], "-", f"{key[1]} {key[0]} snapshot: vesting_service_years stored "
                                               f"{service.get(key)}, expected {want}"))

    stored, absent = _stored(con, "fct_employer_accounts", ("simulation_year", "employee_id", "source"),
                             ACCOUNT_FIELDS)
    for field_name in absent:
        lines.append((0, "", "", f"fct_employer_accounts has no column {field_name}"))
    for key in sorted(set(stored) | set(expected.accounts)):
        year, emp, source = key
        where = f"{emp} {year} {source}"
        if key not in expected.accounts:
            lines.append((year, emp, source, f"{where}: extra row (no snapshot row, or a source the rule does not "
                                             f"have under forfeitures.use {cfg['forfeitures.use']})"))
            continue
        if key not in stored:
            lines.append((year, emp, source, f"{where}: missing row"))
            continue
        if len(stored[key]) > 1:
            lines.append((year, emp, source, f"{where}: {len(stored[key])} rows"))
        row, want = stored[key][0], expected.accounts[key]
        for name in ACCOUNT_FIELDS:
            if name in row and row[name] != want[name]:
                lines.append((year, emp, source, f"{where}: {name} stored {row[name]}, expected {want[name]}"))

    costs, absent = _stored(con, "fct_employer_cost", ("simulation_year",), COST_FIELDS)
    for year in sorted(set(costs) | set(expected.costs)):
        where = f"year {year} cost"
        if year not in expected.costs:
            lines.append((year, "", "~", f"{where}: extra row"))
            continue
        if year not in costs:
            lines.append((year, "", "~", f"{where}: missing row"))
            continue
        if len(costs[year]) > 1:
            lines.append((year, "", "~", f"{where}: {len(costs[year])} rows"))
        row, want = costs[year][0], expected.costs[year]
        for name in COST_FIELDS:
            # a column the table lacks is read as 0: reported only when the rule gives something else
            value = row.get(name, ZERO if name in absent else None)
            if value != want[name]:
                lines.append((year, "", "~", f"{where}: {name} stored "
                                             f"{'(no column)' if name in absent else value}, expected {want[name]}"))
    # by year; within a year the people (vesting service, then their accounts) before the cost row they add up to
    lines.sort(key=lambda line: (line[0], line[1] == "", line[1], line[2]))
    return [line[3] for line in lines]
