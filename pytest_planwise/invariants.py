"""The invariants of simulation.md section 6 (1-9) and the plan rules of docs/simulation.md (12-16: deferral day by
day, match and core, auto-enrollment dates, opt-out, plan entry; 17: the employer-money accounts, vesting and
forfeitures, every row recomputed by pytest_planwise.accounts) as reusable checks: each takes an open run context and
returns its problems (empty when the invariant holds), every problem naming the offending rows.

Quotas, pay and contributions (for a deterministic sample of people per year) are recomputed independently in
Python with decimal.Decimal, and who opts out from the documented draw, never read back from the engine and
trusted; who must be enrolled, opt out or be compared year to year is derived from the run, so a check that finds
nobody fails unless the run implies nobody. `check_invariants(run)` runs them all on
a finished run; the project's tests and property tests use it, and so can any user of the plugin.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb

from navigator_orchestrator.inputs.config import load_config

from .employer_rules import (core_amount, gets_employer_money, last_day_rule, match_amount, match_ceiling,
                             periodic_match, same_share_every_period)
from .plan_entry import entry_date
from .runs import PlanwiseRun

SHOW = 5  # offending rows shown per failed check
CENT = Decimal("0.01")
# simulation.md section 3: a person's events of a year are ordered by date, then by this type order
TYPE_ORDER = ("hire", "eligibility", "promotion", "raise", "enrollment", "enrollment_change", "deferral_escalation",
              "deferral_change", "termination")
TYPE_RANK_SQL = "CASE event_type " + " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(TYPE_ORDER, 1)) + " END"


def round_half_up(value: Decimal, quantum: Decimal = Decimal(1)) -> Decimal:
    """simulation.md's ROUND: half away from zero (Decimal's ROUND_HALF_UP is away from zero for negatives too)."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def workforce_quotas(n: int, growth: Decimal, termination: Decimal, new_hire_termination: Decimal) -> dict[str, int]:
    """simulation.md 3.1 in exact decimal arithmetic: G, T_exp, H, T_nh and the end headcount."""
    g = int(round_half_up(Decimal(n) * growth))
    t_exp = int(round_half_up(Decimal(n) * termination))
    hires = max(0, int(round_half_up(Decimal(g + t_exp) / (Decimal(1) - new_hire_termination))))
    t_nh = int(round_half_up(Decimal(hires) * new_hire_termination))
    return {"N": n, "G": g, "T_exp": t_exp, "H": hires, "T_nh": t_nh, "end": n - t_exp + hires - t_nh}


def apportion(total: int, weights: dict[int, Decimal]) -> dict[int, int]:
    """Largest-remainder split of `total` over levels by weight (ties to the lower level), in integers."""
    units = {level: int(round_half_up(w * 1_000_000)) for level, w in weights.items()}
    whole = sum(units.values())
    base = {level: total * u // whole for level, u in units.items()}
    remainder = {level: total * u % whole for level, u in units.items()}
    leftover = total - sum(base.values())
    for level in sorted(units, key=lambda lv: (-remainder[lv], lv))[:leftover]:
        base[level] += 1
    return base


def days_in_year(year: int) -> int:
    return (date(year + 1, 1, 1) - date(year, 1, 1)).days


def prorate(start_salary: Decimal | None, changes: list[tuple[date, Decimal]], employed_from: date,
            employed_to: date, year: int) -> tuple[Decimal, list[tuple[Decimal, int]]]:
    """simulation.md 4: each salary x the days it applied inside [employed_from, employed_to] / days in year.

    `changes` are (effective date, new salary) in event order; `start_salary` holds from Jan 1 (None for a hire,
    whose first change is the hire itself). Returns the prorated pay (cents, half up) and the (salary, days)
    segments.
    """
    periods = ([(date(year, 1, 1), start_salary)] if start_salary is not None else []) + list(changes)
    segments = []
    for i, (begins, salary) in enumerate(periods):
        ends = periods[i + 1][0] - timedelta(days=1) if i + 1 < len(periods) else date(year, 12, 31)
        days = (min(ends, employed_to) - max(begins, employed_from)).days + 1
        segments.append((salary, max(0, days)))
    total = sum(salary * days for salary, days in segments)
    return round_half_up(Decimal(total) / days_in_year(year), CENT), segments


@dataclass
class Ctx:
    """One finished run, an open read-only connection with helper views, and its configuration."""

    name: str
    con: duckdb.DuckDBPyConnection
    years: list[int]
    cfg: dict
    # the sample's money recomputed once (about 1 s at 5,000 people): invariants 12 and 13 both read it
    money: list | None = field(default=None, repr=False)

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.con.execute(sql, params).fetchall()

    def one(self, sql: str, params=None):
        return self.con.execute(sql, params).fetchone()

    def rate(self, key: str) -> Decimal:
        return Decimal(str(self.cfg[key]))

    def check(self, problems: list[str], title: str, sql: str, params=None) -> None:
        """Run `sql` (returning offending rows); when it returns any, record them with their column names."""
        cursor = self.con.execute(sql, params)
        names = [column[0] for column in cursor.description]
        found = cursor.fetchall()
        if found:
            shown = "\n      ".join(str(dict(zip(names, row))) for row in found[:SHOW])
            problems.append(f"[{self.name}] {title}: {len(found)} offending rows, first {min(SHOW, len(found))}:"
                            f"\n      {shown}")


def report(problems: list[str]) -> str:
    return "\n".join(problems)


_VIEWS = """
create or replace temp view hires as
    select employee_id, simulation_year, effective_date as hire_date, compensation_amount as hire_pay, level_id
    from fct_yearly_events where event_type = 'hire';

-- every snapshot row with what the person started the year with: start salary (census pay in Y0, last year's
-- full-year equivalent after, hire pay for hires) and start deferral rate (census rate, last year's, 0 for hires)
create or replace temp view snap as
select
    s.*,
    h.employee_id is not null as is_hire_of_year,
    CASE WHEN h.employee_id is not null THEN h.hire_pay
         WHEN s.simulation_year = {y0} THEN c.employee_gross_compensation
         ELSE p.full_year_equivalent_compensation END as start_salary,
    CASE WHEN h.employee_id is not null THEN CAST(0 AS DECIMAL(7, 4))
         WHEN s.simulation_year = {y0} THEN c.employee_deferral_rate
         ELSE p.current_deferral_rate END as start_rate,
    make_date(s.simulation_year, 12, 31) as year_end,
    make_date(s.simulation_year + 1, 1, 1) - make_date(s.simulation_year, 1, 1) as year_days
from fct_workforce_snapshot s
left join hires h using (employee_id, simulation_year)
left join raw_census c on s.simulation_year = {y0} and c.employee_id = s.employee_id
left join fct_workforce_snapshot p on p.employee_id = s.employee_id and p.simulation_year = s.simulation_year - 1;
"""



def open_context(run: PlanwiseRun, name: str = "run") -> Ctx:
    """A read-only connection to the run with the helper views, its years and its effective config (with the seed
    the run used: `planwise run --seed` overrides the config file's)."""
    cfg = dict(load_config(Path(run.folder) / "config.yaml").values)
    cfg["simulation.random_seed"] = run.summary["seed"] if "seed" in run.summary else run.spec.seed
    years = sorted(run.years)
    # an instance of its own: a function is registered per DuckDB instance, and every plain connection to one file
    # in a process shares one (a module's context and a test's on the same run would register plan_entry twice)
    con = duckdb.connect()
    quoted = str(run.db_path).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS run (READ_ONLY); USE run")
    con.execute(_VIEWS.format(y0=years[0]))
    # plan_entry(birth, hire): the Python rule of pytest_planwise.plan_entry, callable from the invariants' SQL
    con.create_function("plan_entry", lambda birth, hire: entry_date(cfg, birth, hire), ["DATE", "DATE"], "DATE")
    return Ctx(name, con, years, cfg)


# ------------------------------------------------------------------------------------------------ 1. headcount


def invariant_1_headcount_quotas_and_hires_by_level(ctx: Ctx) -> list[str]:
    g, t, h = (ctx.rate("simulation.target_growth_rate"), ctx.rate("workforce.total_termination_rate"),
               ctx.rate("workforce.new_hire_termination_rate"))
    weights = dict(ctx.rows("select level_id, hire_weight from config_job_levels"))
    problems: list[str] = []
    for year in ctx.years:
        n, end, hires, exp_terms, nh_terms, exp_status, nh_status = ctx.one("""
            select
                count(*) filter (where not is_hire_of_year),
                count(*) filter (where employment_status = 'active'),
                (select count(*) from hires where simulation_year = $y),
                (select count(*) from fct_yearly_events e where e.simulation_year = $y and e.event_type = 'termination'
                    and e.employee_id not in (select employee_id from hires where simulation_year = $y)),
                (select count(*) from fct_yearly_events e where e.simulation_year = $y and e.event_type = 'termination'
                    and e.employee_id in (select employee_id from hires where simulation_year = $y)),
                count(*) filter (where detailed_status_code = 'experienced_termination'),
                count(*) filter (where detailed_status_code = 'new_hire_termination')
            from snap where simulation_year = $y
        """, {"y": year})
        q = workforce_quotas(n, g, t, h)
        needs = ctx.one("""select start_headcount, target_net_growth, experienced_terminations, total_hires,
                                  new_hire_terminations, expected_end_headcount
                           from int_workforce_needs where simulation_year = ?""", [year])
        expected_needs = (q["N"], q["G"], q["T_exp"], q["H"], q["T_nh"], q["end"])
        if needs != expected_needs:
            problems.append(f"{year}: int_workforce_needs (N, G, T_exp, H, T_nh, end) = {needs}, "
                            f"Decimal recomputation from N = {n} gives {expected_needs}")
        if end != q["N"] - q["T_exp"] + q["H"] - q["T_nh"]:
            problems.append(f"{year}: end headcount {end} != N - T_exp + H - T_nh = {q['end']} ({q})")
        # N + G is only reachable when the hires are not clamped at 0 (G + T_exp >= 0, docs/simulation.md)
        if q["G"] + q["T_exp"] >= 0 and abs(end - (q["N"] + q["G"])) > 1:
            problems.append(f"{year}: end headcount {end} differs from N + G = {q['N'] + q['G']} by more than 1")
        if hires != q["H"]:
            problems.append(f"{year}: {hires} hire events, H = {q['H']}")
        if exp_terms != q["T_exp"] or exp_status != q["T_exp"]:
            problems.append(f"{year}: experienced terminations: {exp_terms} events, {exp_status} snapshot rows, "
                            f"T_exp = {q['T_exp']}")
        if nh_terms != q["T_nh"] or nh_status != q["T_nh"]:
            problems.append(f"{year}: new-hire terminations: {nh_terms} events, {nh_status} snapshot rows, "
                            f"T_nh = {q['T_nh']}")
        by_level = dict(ctx.rows("select level_id, hires_needed from int_workforce_needs_by_level "
                                 "where simulation_year = ?", [year]))
        events_by_level = dict(ctx.rows("select level_id, count(*) from hires where simulation_year = ? "
                                        "group by level_id", [year]))
        expected_levels = apportion(q["H"], weights)
        if sum(by_level.values()) != q["H"] or by_level != expected_levels:
            problems.append(f"{year}: int_workforce_needs_by_level {by_level} (sum {sum(by_level.values())}), "
                            f"largest-remainder split of H = {q['H']}: {expected_levels}")
        if {lv: c for lv, c in by_level.items() if c} != events_by_level:
            problems.append(f"{year}: hire events per level {events_by_level} != hires needed {by_level}")
    return problems


# ------------------------------------------------------------------------------------------------ 2. carry-over


def invariant_2_start_population_is_last_years_actives(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    y0 = ctx.years[0]
    ctx.check(problems, f"{y0} start population != staged census actives (missing/extra)", """
        (select 'missing from start' as side, employee_id from raw_census
         where active and employee_termination_date is null
         except select 'missing from start', employee_id from snap where simulation_year = $y0 and not is_hire_of_year)
        union all
        (select 'not a census active', employee_id from snap where simulation_year = $y0 and not is_hire_of_year
         except select 'not a census active', employee_id from raw_census
         where active and employee_termination_date is null)
        order by side, employee_id
    """, {"y0": y0})
    ctx.check(problems, "year Y+1 start population != year Y active snapshot rows", """
        with actives as (select employee_id, simulation_year + 1 as next_year from fct_workforce_snapshot
                         where employment_status = 'active' and simulation_year < $last),
             starts as (select employee_id, simulation_year from snap
                        where not is_hire_of_year and simulation_year > $y0)
        (select 'active in Y, absent from Y+1 start' as side, employee_id, next_year as year from actives
         except select 'active in Y, absent from Y+1 start', employee_id, simulation_year from starts)
        union all
        (select 'in Y+1 start, not active in Y', employee_id, simulation_year from starts
         except select 'in Y+1 start, not active in Y', employee_id, next_year from actives)
        order by year, side, employee_id
    """, {"y0": y0, "last": ctx.years[-1]})
    return problems


# ------------------------------------------------------------------------------------------------ 3. identity


def invariant_3_unique_keys_and_new_hire_identities(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    ctx.check(problems, "(employee_id, simulation_year) duplicated in fct_workforce_snapshot", """
        select employee_id, simulation_year, count(*) as n from fct_workforce_snapshot
        group by all having count(*) > 1 order by all
    """)
    ctx.check(problems, "new-hire id hired more than once (across years)", """
        select employee_id, list(simulation_year order by simulation_year) as years from hires
        group by employee_id having count(*) > 1 order by employee_id
    """)
    ctx.check(problems, "new-hire id not NH_<Y>_<s:06d> with s = 1..H of its year", """
        select employee_id, simulation_year from (
            select *, row_number() over (partition by simulation_year order by employee_id) as s from hires)
        where employee_id <> 'NH_' || simulation_year || '_' || lpad(CAST(s AS VARCHAR), 6, '0')
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "new-hire id that is also a census id", """
        select h.employee_id, h.simulation_year from hires h join raw_census c using (employee_id) order by 1
    """)
    ctx.check(problems, "new-hire SSN also used by the census", """
        select e.employee_id, e.employee_ssn, c.employee_id as census_id
        from fct_yearly_events e join raw_census c on c.employee_ssn = e.employee_ssn
        where e.event_type = 'hire' order by 1
    """)
    ctx.check(problems, "new-hire SSN given to more than one hire", """
        select employee_ssn, list(employee_id order by employee_id) as ids from fct_yearly_events
        where event_type = 'hire' group by employee_ssn having count(*) > 1 order by 1
    """)
    return problems


# ------------------------------------------------------------------------------------------------ 4. compensation


def invariant_4_no_null_compensation_and_hire_pay_in_band(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    ctx.check(problems, "NULL compensation in fct_workforce_snapshot", """
        select employee_id, simulation_year, current_compensation, full_year_equivalent_compensation,
               prorated_annual_compensation
        from fct_workforce_snapshot
        where current_compensation is null or full_year_equivalent_compensation is null
           or prorated_annual_compensation is null
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "NULL compensation_amount on a hire/promotion/raise/termination event", """
        select employee_id, simulation_year, event_type, effective_date from fct_yearly_events
        where event_type in ('hire', 'promotion', 'raise', 'termination') and compensation_amount is null
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "NULL previous_compensation on a promotion/raise event", """
        select employee_id, simulation_year, event_type, compensation_amount from fct_yearly_events
        where event_type in ('promotion', 'raise') and previous_compensation is null
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "hire pay outside 0.5 x band minimum .. 2 x band maximum of its level", """
        select h.employee_id, h.simulation_year, h.level_id, h.hire_pay, l.min_compensation, l.max_compensation
        from hires h left join config_job_levels l using (level_id)
        where l.level_id is null or h.hire_pay is null
           or h.hire_pay < 0.5 * l.min_compensation or h.hire_pay > 2 * l.max_compensation
        order by h.simulation_year, h.employee_id
    """)
    return problems


# ------------------------------------------------------------------------------------------------ 5. pay chain


def invariant_5_pay_events_set_salary_and_carry_into_next_year(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    # the last pay event (hire/promotion/raise) of the year, among events not after the person's termination
    ctx.check(problems, "snapshot current_compensation != compensation_amount of the last pay event", """
        with pay as (
            select e.employee_id, e.simulation_year, e.event_type, e.compensation_amount,
                   row_number() over (partition by e.employee_id, e.simulation_year
                                      order by e.event_sequence desc) as recency
            from fct_yearly_events e
            join snap s using (employee_id, simulation_year)
            where e.event_type in ('hire', 'promotion', 'raise')
              and e.effective_date <= coalesce(s.termination_date, s.year_end)
        )
        select s.employee_id, s.simulation_year, p.event_type as last_pay_event, p.compensation_amount,
               s.current_compensation
        from snap s join pay p on p.employee_id = s.employee_id and p.simulation_year = s.simulation_year
                              and p.recency = 1
        where s.current_compensation is distinct from p.compensation_amount
        order by s.simulation_year, s.employee_id
    """)
    ctx.check(problems, "people without pay events: current_compensation != start salary "
                        "(census pay in Y0, else last year's full_year_equivalent_compensation)", """
        select s.employee_id, s.simulation_year, s.start_salary, s.current_compensation
        from snap s
        where not exists (select 1 from fct_yearly_events e where e.employee_id = s.employee_id
                          and e.simulation_year = s.simulation_year
                          and e.event_type in ('hire', 'promotion', 'raise'))
          and s.current_compensation is distinct from s.start_salary
        order by s.simulation_year, s.employee_id
    """)
    ctx.check(problems, "active row whose full_year_equivalent_compensation != its year-end salary rate", """
        select employee_id, simulation_year, current_compensation, full_year_equivalent_compensation
        from fct_workforce_snapshot where employment_status = 'active'
          and full_year_equivalent_compensation is distinct from current_compensation
        order by simulation_year, employee_id
    """)
    # start salary of Y (= last year's full-year equivalent) is what the year's first pay change starts from,
    # a raise after a promotion starts from the promotion's pay, a termination carries the start salary
    ctx.check(problems, "pay event whose previous_compensation is not the salary in force before it", """
        with chain as (
            select e.employee_id, e.simulation_year, e.event_type, e.event_sequence, e.previous_compensation,
                   lag(e.compensation_amount) over (partition by e.employee_id, e.simulation_year
                                                    order by e.event_sequence) as prior_pay_event_amount
            from fct_yearly_events e where e.event_type in ('hire', 'promotion', 'raise')
        )
        select c.employee_id, c.simulation_year, c.event_type, c.previous_compensation,
               coalesce(c.prior_pay_event_amount, s.start_salary) as salary_before
        from chain c join snap s using (employee_id, simulation_year)
        where c.event_type in ('promotion', 'raise')
          and c.previous_compensation is distinct from coalesce(c.prior_pay_event_amount, s.start_salary)
        order by c.simulation_year, c.employee_id
    """)
    ctx.check(problems, "experienced termination whose compensation_amount != start salary", """
        select e.employee_id, e.simulation_year, e.compensation_amount, s.start_salary
        from fct_yearly_events e join snap s using (employee_id, simulation_year)
        where e.event_type = 'termination' and not s.is_hire_of_year
          and e.compensation_amount is distinct from s.start_salary
        order by e.simulation_year, e.employee_id
    """)
    # continuing employees: people in both years who were neither hired nor left in either, read from the events;
    # they must be exactly the pairs continuous_active in both years (the pay-growth population below). A small
    # population with a high termination rate may have none in a year: then nothing is measured, and nothing owed.
    ctx.check(problems, "continuing employees of Y and Y+1 by the events (a row in both years, no hire in Y, no "
                        "termination in Y or Y+1) != the people continuous_active in both years", """
        with by_events as (
            select a.employee_id, a.simulation_year from snap a
            join snap b on b.employee_id = a.employee_id and b.simulation_year = a.simulation_year + 1
            where not a.is_hire_of_year
              and not exists (select 1 from fct_yearly_events t where t.employee_id = a.employee_id
                              and t.event_type = 'termination' and t.simulation_year in (a.simulation_year,
                                                                                        b.simulation_year))
        ),
        by_status as (
            select a.employee_id, a.simulation_year from fct_workforce_snapshot a
            join fct_workforce_snapshot b on b.employee_id = a.employee_id
                                         and b.simulation_year = a.simulation_year + 1
            where a.detailed_status_code = 'continuous_active' and b.detailed_status_code = 'continuous_active'
        )
        select 'by the events only' as side, * from (select * from by_events except select * from by_status)
        union all
        select 'by the status codes only', * from (select * from by_status except select * from by_events)
        order by simulation_year, employee_id
    """)
    # their pay growth = merit + COLA for everyone plus the promotion effect: the average grows as the start
    # salaries times (1 + promotion raise) x (1 + merit + COLA) predict, within rounding
    merit_cola = ctx.rate("compensation.merit_budget") + ctx.rate("compensation.cola_rate")
    growth = ctx.rows("""
        select a.simulation_year, count(distinct a.employee_id),
               sum(b.current_compensation) / sum(a.current_compensation) - 1,
               sum(a.current_compensation * coalesce(p.compensation_amount / p.previous_compensation, 1)
                   * (1 + $mc)) / sum(a.current_compensation) - 1
        from fct_workforce_snapshot a
        join fct_workforce_snapshot b on b.employee_id = a.employee_id and b.simulation_year = a.simulation_year + 1
        left join fct_yearly_events p on p.employee_id = b.employee_id and p.simulation_year = b.simulation_year
                                     and p.event_type = 'promotion'
        where a.detailed_status_code = 'continuous_active' and b.detailed_status_code = 'continuous_active'
        group by all order by 1
    """, {"mc": merit_cola})
    for year, people, rate, predicted in growth:
        if rate < float(merit_cola) - 1e-6 or abs(rate - predicted) > 1e-4:
            problems.append(f"[{ctx.name}] {year}->{year + 1}: average pay of {people} continuing employees grew "
                            f"{rate:.4%}; merit + COLA {merit_cola:.2%} plus their promotions predict {predicted:.4%}")
    return problems


# ------------------------------------------------------------------------------------------------ 6. dates


def invariant_6_event_dates_and_sequence(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    ctx.check(problems, "event dated outside its simulation_year", """
        select employee_id, simulation_year, event_type, effective_date from fct_yearly_events
        where effective_date is null or year(effective_date) <> simulation_year
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "more than one termination / hire for a person-year", """
        select employee_id, simulation_year, event_type, count(*) as n from fct_yearly_events
        where event_type in ('termination', 'hire') group by all having count(*) > 1 order by all
    """)
    ctx.check(problems, "event dated after the person's termination", """
        select e.employee_id, e.simulation_year, e.event_type, e.effective_date, t.effective_date as terminated
        from fct_yearly_events e
        join fct_yearly_events t on t.employee_id = e.employee_id and t.simulation_year = e.simulation_year
                                and t.event_type = 'termination'
        where e.effective_date > t.effective_date
        order by e.simulation_year, e.employee_id
    """)
    ctx.check(problems, "event (or snapshot termination) dated before the person's hire date", """
        select e.employee_id, e.simulation_year, e.event_type, e.effective_date, s.employee_hire_date
        from fct_yearly_events e join fct_workforce_snapshot s using (employee_id, simulation_year)
        where e.effective_date < s.employee_hire_date
        union all
        select employee_id, simulation_year, 'snapshot termination_date', termination_date, employee_hire_date
        from fct_workforce_snapshot where termination_date < employee_hire_date
        order by 2, 1
    """)
    ctx.check(problems, "event of a person who has no snapshot row that year", """
        select e.employee_id, e.simulation_year, e.event_type from fct_yearly_events e
        anti join fct_workforce_snapshot s using (employee_id, simulation_year)
        order by e.simulation_year, e.employee_id
    """)
    ctx.check(problems, "hire event date != snapshot hire date, or snapshot termination date != event", """
        select s.employee_id, s.simulation_year, s.employee_hire_date, h.hire_date,
               s.termination_date, t.effective_date as termination_event
        from fct_workforce_snapshot s
        left join hires h using (employee_id, simulation_year)
        left join fct_yearly_events t on t.employee_id = s.employee_id and t.simulation_year = s.simulation_year
                                     and t.event_type = 'termination'
        where (h.employee_id is not null and h.hire_date is distinct from s.employee_hire_date)
           or s.termination_date is distinct from t.effective_date
        order by s.simulation_year, s.employee_id
    """)
    ctx.check(problems, "enrollment not between hire and termination (snapshot enrollment_date < hire date "
                        "or enrollment event outside hire..termination)", """
        select employee_id, simulation_year, 'snapshot' as source, enrollment_date, employee_hire_date,
               termination_date
        from fct_workforce_snapshot where enrollment_date < employee_hire_date
        union all
        select e.employee_id, e.simulation_year, e.event_type, e.effective_date, s.employee_hire_date,
               s.termination_date
        from fct_yearly_events e join fct_workforce_snapshot s using (employee_id, simulation_year)
        where e.event_type in ('enrollment', 'enrollment_change')
          and (e.effective_date < s.employee_hire_date or e.effective_date > s.termination_date)
        order by 2, 1
    """)
    ctx.check(problems, "event_sequence differs from the order by date then type (simulation.md 3)", f"""
        select employee_id, simulation_year, event_type, effective_date, event_sequence, expected from (
            select *, rank() over (partition by employee_id, simulation_year
                                   order by effective_date, {TYPE_RANK_SQL}) as expected
            from fct_yearly_events)
        where event_sequence is distinct from expected
        order by simulation_year, employee_id, event_sequence
    """)
    ctx.check(problems, "event_sequence is not exactly 1..n for a person-year", """
        select employee_id, simulation_year, list(event_sequence order by event_sequence) as sequences
        from fct_yearly_events group by all
        having min(event_sequence) <> 1 or max(event_sequence) <> count(*)
            or count(distinct event_sequence) <> count(*)
        order by simulation_year, employee_id
    """)
    return problems


# ------------------------------------------------------------------------------------------------ 7. aging


def invariant_7_age_and_tenure_advance_one_year(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    ctx.check(problems, "age or tenure not exactly +1 (or birth/hire date, SSN changed) between consecutive years", """
        select a.employee_id, a.simulation_year, a.current_age, b.current_age as next_age,
               a.current_tenure, b.current_tenure as next_tenure
        from fct_workforce_snapshot a
        join fct_workforce_snapshot b on b.employee_id = a.employee_id and b.simulation_year = a.simulation_year + 1
        where b.current_age is distinct from a.current_age + 1
           or b.current_tenure is distinct from a.current_tenure + 1
           or b.employee_birth_date is distinct from a.employee_birth_date
           or b.employee_hire_date is distinct from a.employee_hire_date
           or b.employee_ssn is distinct from a.employee_ssn
        order by a.simulation_year, a.employee_id
    """)
    # first-year age: completed years as of Dec 31 of Y0 - 1; tenure, one rule for everybody: Y - hire year
    ctx.check(problems, "first-year age not as of Dec 31 of the census year, or tenure != year - hire year", """
        select employee_id, simulation_year, employee_birth_date, current_age, employee_hire_date, current_tenure
        from snap
        where (simulation_year = $y0 and not is_hire_of_year and current_age <> $y0 - 1 - year(employee_birth_date))
           or current_tenure <> simulation_year - year(employee_hire_date)
        order by simulation_year, employee_id
    """, {"y0": ctx.years[0]})
    return problems


# ------------------------------------------------------------------------------------------------ 8. pay limits


def invariant_8_prorated_pay_and_contribution_limits(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    top_share, top_rate = match_ceiling(ctx.cfg)
    cap = ctx.cfg["employer_match.max_match_amount"]
    limit_years = {row[0] for row in ctx.rows("select limit_year from config_irs_limits")}
    if not set(ctx.years) <= limit_years:
        problems.append(f"config_irs_limits misses years {set(ctx.years) - limit_years}")
    ctx.check(problems, "prorated pay above the highest salary held in the year, or negative", """
        with events as (
            select employee_id, simulation_year, max(compensation_amount) as highest_event_pay
            from fct_yearly_events where event_type in ('hire', 'promotion', 'raise') group by all
        )
        select s.employee_id, s.simulation_year, s.prorated_annual_compensation, s.start_salary,
               e.highest_event_pay
        from snap s left join events e using (employee_id, simulation_year)
        where s.prorated_annual_compensation < 0
           or s.prorated_annual_compensation > greatest(s.start_salary, e.highest_event_pay)
           or (s.start_salary is null and e.highest_event_pay is null)
        order by s.simulation_year, s.employee_id
    """)
    limit = ("(i.base_limit + CASE WHEN s.simulation_year - year(s.employee_birth_date) between 60 and 63 "
             "THEN i.catch_up_60_63 WHEN s.simulation_year - year(s.employee_birth_date) >= 50 THEN i.catch_up_50 "
             "ELSE 0 END)")
    ctx.check(problems, "employee_contribution above the IRS limit for the age attained by Dec 31", f"""
        select s.employee_id, s.simulation_year, s.employee_birth_date, s.employee_contribution,
               s.irs_limit_applied, {limit} as irs_limit
        from fct_workforce_snapshot s join config_irs_limits i on i.limit_year = s.simulation_year
        where s.employee_contribution is null or s.employee_contribution < 0
           or s.employee_contribution > {limit}
           or (s.irs_limit_applied and s.employee_contribution <> {limit})
        order by s.simulation_year, s.employee_id
    """)
    # money is rounded to the cent (half away from zero, monotone): the bound is the product rounded to the cent; the
    # match per pay period (true_up false) reads the exact deferral and pay, the bound their sums rounded: one cent more
    slack = "0" if ctx.cfg["employer_match.true_up"] else "0.01"
    ctx.check(problems, "employer match above the formula's largest share of plan pay (or above its largest rate x "
                        "contribution, or above max_match_amount)", f"""
        select employee_id, simulation_year, prorated_annual_compensation, employee_contribution,
               employer_match_amount
        from fct_workforce_snapshot
        where employer_match_amount is null or employer_match_amount < 0
           or employer_match_amount > round(least(prorated_annual_compensation, (select compensation_limit
                  from config_irs_limits where limit_year = simulation_year)) * {top_share}, 2) + {slack}
           or employer_match_amount > round(employee_contribution * {top_rate}, 2) + {slack}
           or employer_match_amount > {"employer_match_amount" if cap is None else f"round({cap}, 2)"}
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "terminated person with employer money under a last-day rule", f"""
        select employee_id, simulation_year, detailed_status_code, employer_match_amount, employer_core_amount
        from fct_workforce_snapshot
        where employment_status = 'terminated'
          and ((employer_match_amount <> 0 and {last_day_rule(ctx.cfg, "match")})
               or (employer_core_amount <> 0 and {last_day_rule(ctx.cfg, "core")}))
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "total_employer_contributions != match + core", """
        select employee_id, simulation_year, employer_match_amount, employer_core_amount, total_employer_contributions
        from fct_workforce_snapshot
        where total_employer_contributions is distinct from employer_match_amount + employer_core_amount
        order by simulation_year, employee_id
    """)
    return problems


# ------------------------------------------------------------------------------------------------ 9. deferrals


def invariant_9_deferral_rates_change_only_through_events(ctx: Ctx) -> list[str]:
    problems: list[str] = []
    cap = ctx.rate("deferral_auto_escalation.cap")
    increment = ctx.rate("deferral_auto_escalation.increment")
    deferral_events = """
        select e.*, row_number() over w as k, count(*) over person_year as n,
               lag(e.employee_deferral_rate) over w as prior_event_rate
        from fct_yearly_events e
        where e.event_type in ('enrollment', 'enrollment_change', 'deferral_escalation', 'deferral_change')
        window person_year as (partition by e.employee_id, e.simulation_year),
               w as (person_year order by e.event_sequence)
    """
    ctx.check(problems, "deferral rate changed between consecutive years without a deferral event of Y+1 "
                        "ending at the new rate", f"""
        with d as ({deferral_events})
        select b.employee_id, b.simulation_year, a.current_deferral_rate as rate_in_y,
               b.current_deferral_rate as rate_in_y_plus_1, d.event_type as last_deferral_event,
               d.employee_deferral_rate as last_event_rate
        from fct_workforce_snapshot a
        join fct_workforce_snapshot b on b.employee_id = a.employee_id and b.simulation_year = a.simulation_year + 1
        left join d on d.employee_id = b.employee_id and d.simulation_year = b.simulation_year and d.k = d.n
        where a.current_deferral_rate is distinct from b.current_deferral_rate
          and d.employee_deferral_rate is distinct from b.current_deferral_rate
        order by b.simulation_year, b.employee_id
    """)
    ctx.check(problems, "year-end deferral rate != last deferral event's rate (or the start rate without events)",
              f"""
        with d as ({deferral_events})
        select s.employee_id, s.simulation_year, s.start_rate, s.current_deferral_rate, d.event_type,
               d.employee_deferral_rate as last_event_rate
        from snap s
        left join d on d.employee_id = s.employee_id and d.simulation_year = s.simulation_year and d.k = d.n
        where s.current_deferral_rate is distinct from coalesce(d.employee_deferral_rate, s.start_rate)
        order by s.simulation_year, s.employee_id
    """)
    ctx.check(problems, "deferral event whose prev_employee_deferral_rate is not the rate in force before it", f"""
        with d as ({deferral_events})
        select d.employee_id, d.simulation_year, d.event_type, d.event_sequence, d.prev_employee_deferral_rate,
               coalesce(d.prior_event_rate, s.start_rate) as rate_before
        from d join snap s using (employee_id, simulation_year)
        where d.prev_employee_deferral_rate is distinct from coalesce(d.prior_event_rate, s.start_rate)
        order by d.simulation_year, d.employee_id
    """)
    ctx.check(problems, f"escalation that lowers the rate, passes the cap {cap}, or is not min(cap, rate + "
                        f"{increment})", f"""
        select employee_id, simulation_year, prev_employee_deferral_rate, employee_deferral_rate, effective_date
        from fct_yearly_events where event_type = 'deferral_escalation'
          and (employee_deferral_rate is null or prev_employee_deferral_rate is null
               or employee_deferral_rate < prev_employee_deferral_rate
               or employee_deferral_rate > {cap}
               or employee_deferral_rate <> least({cap}, prev_employee_deferral_rate + {increment}))
        order by simulation_year, employee_id
    """)
    ctx.check(problems, "more than one escalation for a person-year", """
        select employee_id, simulation_year, count(*) as n from fct_yearly_events
        where event_type = 'deferral_escalation' group by all having count(*) > 1 order by all
    """)
    return problems


# ------------------------------------------------------------------------------------------------- 12-13. money

SAMPLE_PER_STRATUM = 60  # people per (year, stratum) whose money is recomputed; strata below, by employee_id
_SAMPLE_SQL = """
    with strata as (
        select s.employee_id, s.simulation_year, s.detailed_status_code as stratum from snap s
        union all
        select employee_id, simulation_year, 'event ' || event_type from fct_yearly_events
        where event_type in ('enrollment', 'enrollment_change', 'deferral_escalation', 'deferral_change', 'promotion')
        union all
        select employee_id, simulation_year, 'irs_limit_applied' from fct_workforce_snapshot where irs_limit_applied
        union all
        select employee_id, simulation_year, 'annual_additions_limit_applied' from fct_workforce_snapshot
        where annual_additions_limit_applied
    ),
    sample as (
        select distinct employee_id, simulation_year from strata
        qualify row_number() over (partition by simulation_year, stratum order by employee_id) <= $k
    )
    select s.employee_id, s.simulation_year, s.employee_birth_date, s.employee_hire_date, s.termination_date,
           s.is_hire_of_year, s.start_salary, s.start_rate, s.prorated_annual_compensation, s.plan_compensation,
           s.employee_contribution, s.irs_limit_applied, s.employer_match_amount, s.employer_core_amount,
           s.annual_additions_limit_applied, s.current_age, w.taxable_wage_base, s.employer_match_true_up,
           list({'d': e.effective_date, 'type': e.event_type, 'pay': e.compensation_amount,
                 'rate': e.employee_deferral_rate} order by e.event_sequence) filter (where e.event_type is not null)
    from sample join snap s using (employee_id, simulation_year)
    left join fct_yearly_events e using (employee_id, simulation_year)
    left join config_ss_wage_base w on w.wage_year = s.simulation_year
    group by all order by s.simulation_year, s.employee_id
"""
_PAY_EVENTS, _RATE_EVENTS = ("hire", "promotion", "raise"), ("enrollment", "enrollment_change", "deferral_escalation",
                                                             "deferral_change")


@dataclass
class Money:
    """One sampled person-year: what the model stored and what the rules of simulation.md give."""

    employee_id: str
    year: int
    stored: dict
    expected: dict


def irs_limits(ctx: Ctx) -> dict[int, dict[str, Decimal]]:
    """config_irs_limits by year (the seed is the rule's input, not the model's output)."""
    cursor = ctx.con.execute("select * from config_irs_limits")
    names = [column[0] for column in cursor.description]
    return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


def deferral_limit(limits: dict, year: int, birth: date) -> Decimal:
    """402(g) limit for the age attained by Dec 31 (Y - birth year): <50 base, 60-63 base + the 60-63 catch-up,
    50-59 and 64+ base + the age-50 catch-up."""
    age, row = year - birth.year, limits[year]
    catch_up = row["catch_up_60_63"] if 60 <= age <= 63 else row["catch_up_50"] if age >= 50 else 0
    return Decimal(row["base_limit"]) + Decimal(catch_up)


def day_by_day(start_salary: Decimal, start_rate: Decimal, events: list[dict], employed_from: date,
               employed_to: date, year: int) -> tuple[Decimal, Decimal, int]:
    """Walk the year one day at a time: that day's salary and deferral rate are the ones set by the day's and
    earlier events (events in event order, so the last change of a day holds for it). Returns prorated pay and
    the requested deferral (each sum / days in year, to the cent half up) and the days employed. The days from one
    day with events to the next are alike, so each such stretch is added at once (its employed days times the
    day's amounts: the same exact decimal sums)."""
    by_day: dict[date, list[dict]] = {}
    for event in events:
        by_day.setdefault(event["d"], []).append(event)
    first, after = date(year, 1, 1), date(year + 1, 1, 1)
    starts = sorted({first, *(day for day in by_day if first < day < after)})
    salary, rate, pay, deferral, days = start_salary, start_rate, Decimal(0), Decimal(0), 0
    for day, next_start in zip(starts, [*starts[1:], after]):
        for event in by_day.get(day, ()):
            if event["type"] in _PAY_EVENTS:
                salary = event["pay"]
            if event["type"] in _RATE_EVENTS:
                rate = event["rate"]
        employed = (min(next_start - timedelta(days=1), employed_to) - max(day, employed_from)).days + 1
        if employed > 0:
            pay, deferral, days = pay + salary * employed, deferral + salary * rate * employed, days + employed
    n = days_in_year(year)
    return round_half_up(pay / n, CENT), round_half_up(deferral / n, CENT), days


def employed_stretches(start_salary: Decimal, start_rate: Decimal, events: list[dict], employed_from: date,
                       employed_to: date, year: int) -> list[tuple[int, int, Decimal, Decimal]]:
    """The employed days of the year as (first day, last day, salary, deferral rate), days counted from 0 on Jan 1:
    a new stretch on every day with a pay or rate event (the day's last change holds for the whole day)."""
    first, out = date(year, 1, 1), []
    salary, rate = start_salary, start_rate
    changes = sorted({event["d"] for event in events if event["type"] in _PAY_EVENTS + _RATE_EVENTS} - {first})
    for begins, next_begins in zip([first, *changes], [*changes, date(year + 1, 1, 1)]):
        for event in events:
            if event["d"] == begins and event["type"] in _PAY_EVENTS:
                salary = event["pay"]
            if event["d"] == begins and event["type"] in _RATE_EVENTS:
                rate = event["rate"]
        lo, hi = max(begins, employed_from), min(next_begins - timedelta(days=1), employed_to)
        if lo <= hi:
            out.append(((lo - first).days, (hi - first).days, salary, rate))
    return out


def recompute_money(ctx: Ctx) -> list[Money]:
    """The sampled people's pay, deferral, match and core recomputed from their events, the config and the IRS
    seed (docs/simulation.md, Contributions). Everyone in the sample, in (year, employee_id) order."""
    limits = irs_limits(ctx)
    out = []
    for (emp, year, birth, hired, terminated, is_hire, start_salary, start_rate, prorated, plan_comp, contribution,
         capped, match, core, additions_capped, age, wage_base, true_up, events) in ctx.rows(_SAMPLE_SQL,
                                                                                   {"k": SAMPLE_PER_STRATUM}):
        employed_from, employed_to = max(hired, date(year, 1, 1)), terminated or date(year, 12, 31)
        pay, requested, days = day_by_day(Decimal(0) if is_hire else start_salary, Decimal(0) if is_hire else
                                          start_rate, events or [], employed_from, employed_to, year)
        limit = deferral_limit(limits, year, birth)
        deferral = min(requested, limit)
        pay_limit = Decimal(limits[year]["compensation_limit"])
        plan = min(pay, pay_limit)
        hours, service = Decimal(2080) * days / days_in_year(year), year - hired.year
        gets_match = gets_employer_money(ctx.cfg, "match", hours, service, terminated is None)
        match_formula = round_half_up(match_amount(ctx.cfg, deferral, plan, service), CENT) if gets_match \
            else Decimal(0)
        # the match without true-up ("Match per pay period and true-up"): per pay period, but the annual formula
        # for a person whose deferral is the same share of pay in every period
        stretches = employed_stretches(Decimal(0) if is_hire else start_salary, Decimal(0) if is_hire else
                                       start_rate, events or [], employed_from, employed_to, year)
        period_formula = match_formula \
            if not gets_match or same_share_every_period(stretches, requested > limit, pay, pay_limit) \
            else periodic_match(ctx.cfg, stretches, days_in_year(year), limit, pay_limit, service)
        core_formula = round_half_up(core_amount(ctx.cfg, plan, age, service, wage_base), CENT) \
            if gets_employer_money(ctx.cfg, "core", hours, service, terminated is None) else Decimal(0)
        room = max(Decimal(0), Decimal(limits[year]["annual_additions_limit"])
                   - min(deferral, Decimal(limits[year]["base_limit"])))
        expected_core = min(core_formula, room)  # 415(c) cuts the match first
        annual, per_period = min(match_formula, room - expected_core), min(period_formula, room - expected_core)
        trued_up = ctx.cfg["employer_match.true_up"]
        out.append(Money(emp, year, stored={
            "prorated": prorated, "contribution": contribution, "irs_limit_applied": capped, "plan": plan_comp,
            "match": match, "core": core, "additions_limit_applied": additions_capped, "true_up": true_up,
        }, expected={
            "prorated": pay, "contribution": deferral, "irs_limit_applied": requested > limit, "plan": plan,
            "match": annual if trued_up else per_period, "core": expected_core,
            "additions_limit_applied": (match_formula if trued_up else period_formula) + core_formula > room,
            "true_up": annual - per_period if trued_up else Decimal(0),
        }))
    return out


def _money_problems(ctx: Ctx, fields: tuple[str, ...], title: str) -> list[str]:
    if ctx.money is None:
        ctx.money = recompute_money(ctx)
    sample = ctx.money
    wrong = [f"{m.employee_id} {m.year}: " + ", ".join(f"{f} {m.stored[f]} != {m.expected[f]}" for f in fields
                                                       if m.stored[f] != m.expected[f])
             for m in sample if any(m.stored[f] != m.expected[f] for f in fields)]
    if not {m.year for m in sample} >= set(ctx.years):
        return [f"[{ctx.name}] {title}: sample misses years {set(ctx.years) - {m.year for m in sample}}"]
    if wrong:
        return [f"[{ctx.name}] {title}: {len(wrong)} of {len(sample)} sampled person-years (stored != recomputed), "
                f"first {min(SHOW, len(wrong))}:\n      " + "\n      ".join(wrong[:SHOW])]
    return []


def invariant_12_employee_contribution_day_by_day(ctx: Ctx) -> list[str]:
    """Sampled deferrals = sum over employed days of that day's rate x salary / days in year, capped by age."""
    return _money_problems(ctx, ("prorated", "contribution", "irs_limit_applied"),
                           "employee contribution != the day-by-day rule capped at the 402(g) limit for the age "
                           "attained by Dec 31")


def invariant_13_match_and_core_recomputed(ctx: Ctx) -> list[str]:
    """Sampled match and core = the formula on plan pay (401(a)(17)), hours rule, year-end status, 415(c)."""
    return _money_problems(ctx, ("plan", "match", "core", "additions_limit_applied", "true_up"),
                           "plan compensation, employer match or core != the match formula's tiers on the deferral "
                           "and plan pay and the core formula on plan pay for actives meeting minimum hours, cut to "
                           "415(c)")


# -------------------------------------------------------------------------------------------- 14-15. enrollment


def invariant_14_auto_enrollment_dates(ctx: Ctx) -> list[str]:
    """Exactly the eligible people get one auto-enrollment, on their plan entry date (or Jan 1) + 30 capped at Dec 31,
    never after their termination; census participants are enrolled as of the census date; the date is kept."""
    problems: list[str] = []
    params = {"enabled": bool(ctx.cfg["enrollment.auto_enrollment.enabled"]),
              "all_eligible": ctx.cfg["enrollment.auto_enrollment.scope"] == "all_eligible_employees",
              "cutoff": ctx.cfg["enrollment.auto_enrollment.hire_date_cutoff"]}
    rate, y0 = ctx.rate("enrollment.auto_enrollment.default_deferral_rate"), ctx.years[0]
    ctx.check(problems, "auto-enrollment events != the eligible people on max(plan entry, Jan 1) + 30 capped at "
                        "Dec 31 (not enrolled, never opted out, entering the plan this year, or by Dec 31 with scope "
                        "all_eligible_employees; hired on/after the cutoff; not terminated before that date)", """
        with entering as (
            select s.*, plan_entry(s.employee_birth_date, s.employee_hire_date) as entry
            from snap s
            left join fct_workforce_snapshot p on p.employee_id = s.employee_id
                                              and p.simulation_year = s.simulation_year - 1
            where $enabled and s.employee_hire_date >= $cutoff
              and (s.is_hire_of_year or (s.start_rate = 0 and not coalesce(p.opted_out_flag, false)))
        ),
        candidates as (
            select employee_id, simulation_year, termination_date,
                   least(greatest(entry, make_date(simulation_year, 1, 1)) + 30, year_end) as due
            from entering
            where entry <= year_end and ($all_eligible or year(entry) = simulation_year)
        ),
        expected as (
            select employee_id, simulation_year, due as effective_date from candidates
            where termination_date is null or termination_date >= due
        ),
        actual as (
            select employee_id, simulation_year, effective_date from fct_yearly_events
            where event_type = 'enrollment' and event_category is distinct from 'voluntary_enrollment'
        )
        select 'missing' as side, employee_id, simulation_year, effective_date
        from (select * from expected except select * from actual)
        union all
        select 'unexpected (or on another date)', employee_id, simulation_year, effective_date
        from (select * from actual except select * from expected)
        order by simulation_year, employee_id, side
    """, params)
    ctx.check(problems, "enrollment (auto or voluntary) dated after the person's termination", """
        select e.employee_id, e.simulation_year, e.effective_date, s.termination_date
        from fct_yearly_events e join fct_workforce_snapshot s using (employee_id, simulation_year)
        where e.event_type = 'enrollment' and e.effective_date > s.termination_date
        order by e.simulation_year, e.employee_id
    """)
    ctx.check(problems, "auto-enrollment not from rate 0 to the default deferral rate, or a person auto-enrolled "
                        "more than once", """
        select employee_id, list(simulation_year order by simulation_year) as years,
               list(employee_deferral_rate) as rates, list(prev_employee_deferral_rate) as previous_rates
        from fct_yearly_events
        where event_type = 'enrollment' and event_category is distinct from 'voluntary_enrollment'
        group by employee_id
        having count(*) > 1 or bool_or(employee_deferral_rate <> $rate or prev_employee_deferral_rate <> 0)
        order by employee_id
    """, {"rate": rate})
    ctx.check(problems, "snapshot enrollment_date != the first enrollment's date (auto or voluntary; its year and "
                        "after), or for a census participant != min(eligibility entry or hire date, census date)",
              """
        with enrolled as (
            select employee_id, simulation_year as since, effective_date from fct_yearly_events
            where event_type = 'enrollment'
            union all
            select employee_id, $y0, least(coalesce(eligibility_entry_date, employee_hire_date),
                                           make_date($y0 - 1, 12, 31))
            from raw_census where employee_deferral_rate > 0
        )
        select s.employee_id, s.simulation_year, s.enrollment_date, min(e.effective_date) as enrolled_on
        from fct_workforce_snapshot s
        left join enrolled e on e.employee_id = s.employee_id and e.since <= s.simulation_year
        group by all
        having s.enrollment_date is distinct from min(e.effective_date)
        order by s.simulation_year, s.employee_id
    """, {"y0": y0})
    return problems


def invariant_16_plan_entry(ctx: Ctx) -> list[str]:
    """One eligibility event, on the plan entry date of pytest_planwise.plan_entry, for exactly the people not yet
    enrolled who enter during a year while employed; nobody but a census participant is enrolled before entry."""
    problems: list[str] = []
    ctx.check(problems, "eligibility events != the people not enrolled at the start of the year whose plan entry "
                        "(minimum age, service months, entry dates) falls in the year, on or before their "
                        "termination, dated that day", """
        with expected as (
            select employee_id, simulation_year, plan_entry(employee_birth_date, employee_hire_date) as effective_date,
                   termination_date, year_end
            from snap where is_hire_of_year or start_rate = 0
        ),
        due as (
            select employee_id, simulation_year, effective_date from expected
            where year(effective_date) = simulation_year and effective_date <= coalesce(termination_date, year_end)
        ),
        actual as (
            select employee_id, simulation_year, effective_date from fct_yearly_events where event_type = 'eligibility'
        )
        select 'missing' as side, * from (select * from due except all select * from actual)
        union all
        select 'unexpected (or on another date)', * from (select * from actual except all select * from due)
        order by simulation_year, employee_id, side
    """)
    ctx.check(problems, "enrolled before plan entry (someone other than a census participant)", """
        select s.employee_id, s.simulation_year, s.enrollment_date,
               plan_entry(s.employee_birth_date, s.employee_hire_date) as entry
        from fct_workforce_snapshot s
        left join raw_census c on c.employee_id = s.employee_id and c.employee_deferral_rate > 0
        where c.employee_id is null
          and s.enrollment_date < plan_entry(s.employee_birth_date, s.employee_hire_date)
        order by s.simulation_year, s.employee_id
    """)
    return problems


def draw(seed: int, stream: str, employee_id: str, year: int) -> float:
    """docs/simulation.md's u(stream, id, Y): the first 8 bytes of md5('seed|stream|id|Y') read little-endian,
    shifted right by 11, over 2^53."""
    digest = hashlib.md5(f"{seed}|{stream}|{employee_id}|{year}".encode()).digest()
    return (int.from_bytes(digest[:8], "little") >> 11) / 2**53


def _age_segment(age: int) -> str:
    return "young" if age < 30 else "mid_career" if age < 45 else "mature" if age < 60 else "senior"


def _income_segment(pay: Decimal) -> str:
    return "low" if pay < 50000 else "moderate" if pay < 100000 else "high" if pay < 200000 else "executive"


def invariant_15_opt_out_dates_and_re_enrollment(ctx: Ctx) -> list[str]:
    """Exactly the auto-enrolled people whose u('optout') is below their age rate x income multiplier opt out; an
    opt-out follows its year's auto-enrollment by 1-30 days (capped at Dec 31 and termination), sets the rate to 0
    once; the person is never auto-enrolled again, enrolls again only voluntarily at least
    voluntary_enrollment.years_after_opt_out years later, is escalated only after that, and is flagged opted out at
    rate 0 until then (opt_out_year the opt-out's year from then on)."""
    problems: list[str] = []
    seed = ctx.cfg["simulation.random_seed"]
    expected = set()
    for emp, year, age, pay in ctx.rows("select employee_id, simulation_year, employee_age, compensation_amount "
                                        "from fct_yearly_events where event_type = 'enrollment' "
                                        "and event_category is distinct from 'voluntary_enrollment'"):
        probability = (ctx.rate(f"enrollment.opt_out_rates.by_age.{_age_segment(age)}")
                       * ctx.rate(f"enrollment.opt_out_rates.by_income.{_income_segment(pay)}"))
        if draw(seed, "optout", emp, year) < float(probability):
            expected.add((emp, year))
    actual = set(ctx.rows("select employee_id, simulation_year from fct_yearly_events "
                          "where event_type = 'enrollment_change'"))
    wrong = sorted((year, emp, "opted out, the draw says stays" if (emp, year) in actual else
                    "the draw says opts out, no opt-out") for emp, year in expected ^ actual)
    if wrong:
        problems.append(f"[{ctx.name}] opt-outs != the auto-enrolled people with u('optout') < age rate x income "
                        f"multiplier (seed {seed}; {len(actual)} opted out, {len(expected)} drawn): {len(wrong)} "
                        f"offending, first {min(SHOW, len(wrong))}:\n      "
                        + "\n      ".join(f"{emp} {year}: {why}" for year, emp, why in wrong[:SHOW]))
    ctx.check(problems, "opt-out without an auto-enrollment that year, not 1-30 days after it (capped at Dec 31 "
                        "and the termination date), or not from the default rate to 0", """
        select o.employee_id, o.simulation_year, e.effective_date as enrolled, o.effective_date as opted_out,
               s.termination_date, o.prev_employee_deferral_rate, o.employee_deferral_rate
        from fct_yearly_events o
        join fct_workforce_snapshot s using (employee_id, simulation_year)
        left join fct_yearly_events e on e.employee_id = o.employee_id and e.simulation_year = o.simulation_year
                                     and e.event_type = 'enrollment'
        where o.event_type = 'enrollment_change'
          and (e.employee_id is null
               or o.effective_date < e.effective_date or o.effective_date > e.effective_date + 30
               or o.effective_date > least(coalesce(s.termination_date, make_date(o.simulation_year, 12, 31)),
                                           make_date(o.simulation_year, 12, 31))
               or (o.effective_date = e.effective_date and o.effective_date
                   < least(coalesce(s.termination_date, make_date(o.simulation_year, 12, 31)),
                           make_date(o.simulation_year, 12, 31)))
               or o.employee_deferral_rate <> 0 or o.prev_employee_deferral_rate <> $rate)
        order by o.simulation_year, o.employee_id
    """, {"rate": ctx.rate("enrollment.auto_enrollment.default_deferral_rate")})
    ctx.check(problems, "person who opted out more than once", """
        select employee_id, list(effective_date order by effective_date) as opt_outs from fct_yearly_events
        where event_type = 'enrollment_change' group by employee_id having count(*) > 1 order by employee_id
    """)
    ctx.check(problems, "after an opt-out: an auto-enrollment, a voluntary enrollment before years_after_opt_out "
                        "years (or with voluntary_enrollment off), or an escalation not after a later year's "
                        "voluntary enrollment", """
        with opt_outs as (
            select employee_id, simulation_year as opt_out_year, effective_date, event_sequence
            from fct_yearly_events where event_type = 'enrollment_change'
        ),
        rejoined as (
            select o.employee_id, min(e.simulation_year) as rejoined_year from opt_outs o
            join fct_yearly_events e on e.employee_id = o.employee_id and e.event_category = 'voluntary_enrollment'
                                    and e.simulation_year > o.opt_out_year
            group by o.employee_id
        )
        select o.employee_id, o.effective_date as opted_out, e.event_category, e.effective_date, r.rejoined_year
        from opt_outs o
        join fct_yearly_events e on e.employee_id = o.employee_id
                                and e.event_type in ('enrollment', 'deferral_escalation')
                                and (e.simulation_year, e.effective_date, e.event_sequence)
                                    > (o.opt_out_year, o.effective_date, o.event_sequence)
        left join rejoined r on r.employee_id = o.employee_id
        where (e.event_type = 'enrollment' and e.event_category is distinct from 'voluntary_enrollment')
           or (e.event_category = 'voluntary_enrollment'
               and (not $voluntary or e.simulation_year < o.opt_out_year + $wait))
           or (e.event_type = 'deferral_escalation' and e.simulation_year <= coalesce(r.rejoined_year, 9999))
        order by o.employee_id, e.effective_date
    """, {"voluntary": bool(ctx.cfg["voluntary_enrollment.enabled"]),
          "wait": ctx.cfg["voluntary_enrollment.years_after_opt_out"]})
    ctx.check(problems, "opted_out_flag / opt_out_year / rate after an opt-out: not flagged at rate 0 from its "
                        "year until a voluntary enrollment, flagged without an opt-out, or opt_out_year not the "
                        "opt-out's year from then on", """
        with opt_out as (
            select employee_id, min(simulation_year) as opted_in_year from fct_yearly_events
            where event_type = 'enrollment_change' group by employee_id
        ),
        rejoined as (
            select o.employee_id, min(e.simulation_year) as rejoined_year from opt_out o
            join fct_yearly_events e on e.employee_id = o.employee_id and e.event_category = 'voluntary_enrollment'
                                    and e.simulation_year > o.opted_in_year
            group by o.employee_id
        )
        select s.employee_id, s.simulation_year, o.opted_in_year, r.rejoined_year, s.opted_out_flag,
               s.opt_out_year, s.current_deferral_rate
        from fct_workforce_snapshot s left join opt_out o using (employee_id) left join rejoined r using (employee_id)
        where s.opted_out_flag is distinct from coalesce(s.simulation_year >= o.opted_in_year
                                                         and s.simulation_year < coalesce(r.rejoined_year, 9999), false)
           or (s.opted_out_flag and s.current_deferral_rate <> 0)
           or s.opt_out_year is distinct from CASE WHEN s.simulation_year >= o.opted_in_year THEN o.opted_in_year END
        order by s.simulation_year, s.employee_id
    """)
    return problems


# -------------------------------------------------------------------------------------------- 17. employer accounts


def invariant_17_employer_accounts_recomputed(ctx: Ctx) -> list[str]:
    """Every row of fct_employer_accounts and fct_employer_cost, and the snapshot's years of vesting service, equal
    pytest_planwise.accounts' recomputation (openings from the census or last year's recomputed closing, earnings,
    vesting schedules, forfeitures, the forfeiture pool used, carried or reallocated in whole cents); rows missing
    or extra are reported too."""
    from .accounts import differences  # accounts reuses this module's helpers: imported when used

    return _recomputation_report(ctx, "employer accounts / cost", '"Vesting and forfeitures"', differences(ctx))


def _recomputation_report(ctx: Ctx, what: str, section: str, wrong: list[str]) -> list[str]:
    """One problem naming the first SHOW lines where a recomputation and the run differ; none when they agree."""
    if not wrong:
        return []
    return [f"[{ctx.name}] {what} != the recomputation (docs/simulation.md {section}): {len(wrong)} differences, "
            f"first {min(SHOW, len(wrong))}:\n      " + "\n      ".join(wrong[:SHOW])]


def match_magnet(cfg: dict, years_of_service: int) -> Decimal:
    """The match-maximizing deferral rate: the highest up_to of a tier with a rate above 0."""
    from .employer_rules import match_tiers  # employer_rules is independent of this module: imported when used

    return max(up_to for rate, up_to in match_tiers(cfg, years_of_service) if rate > 0)


def invariant_19_match_response(ctx: Ctx) -> list[str]:
    """match_response: exactly the participants the draws move (docs/simulation.md "The match's pull") have one
    deferral_change event, in the first year, on the drawn day, from the rate in force on Jan 1 to the formula's
    match-maximizing rate; nobody else has one."""
    y0, seed = ctx.years[0], ctx.cfg["simulation.random_seed"]
    enabled = ctx.cfg["match_response.enabled"]
    up, down = (Decimal(str(ctx.cfg[f"match_response.share_moving_{way}"])) for way in ("up", "down"))
    expected = {}
    for emp, start_rate, escalated, tenure, termination in ctx.rows("""
            select s.employee_id, s.start_rate, e.employee_deferral_rate, s.current_tenure, s.termination_date
            from snap s left join fct_yearly_events e on e.employee_id = s.employee_id
                 and e.simulation_year = s.simulation_year and e.event_type = 'deferral_escalation'
            where s.simulation_year = ? and not s.is_hire_of_year and s.start_rate > 0""", [y0]) if enabled else ():
        rate, magnet = escalated if escalated is not None else start_rate, match_magnet(ctx.cfg, tenure)
        days = (date(y0 + 1, 1, 1) - date(y0, 1, 1)).days
        day = date(y0, 1, 1) + timedelta(days=1 + int(draw(seed, "match_date", emp, y0) * (days - 1)))
        moves = (rate < magnet and draw(seed, "match_up", emp, y0) < up) or \
            (rate > magnet and draw(seed, "match_down", emp, y0) < down)
        if moves and (termination is None or termination >= day):
            expected[emp] = (y0, day, rate, magnet)
    stored = {emp: (year, day, prev, new) for emp, year, day, prev, new in ctx.rows(
        "select employee_id, simulation_year, effective_date, prev_employee_deferral_rate, employee_deferral_rate "
        "from fct_yearly_events where event_type = 'deferral_change'")}
    wrong = [f"{emp}: stored {stored.get(emp)}, the rule gives {expected.get(emp)}"
             for emp in sorted(set(stored) | set(expected)) if stored.get(emp) != expected.get(emp)]
    return _recomputation_report(ctx, "deferral_change events", '"The match\'s pull"', wrong)


def invariant_20_voluntary_enrollment(ctx: Ctx) -> list[str]:
    """voluntary_enrollment: exactly the people the draws enroll (docs/simulation.md "Voluntary enrollment") have one
    enrollment of category voluntary_enrollment in the year, on the drawn day of their window, at the drawn rate
    (the match-maximizing one or one of the seeded weights), from 0; nobody else has one."""
    seed, cfg = ctx.cfg["simulation.random_seed"], ctx.cfg
    wait = cfg["voluntary_enrollment.years_after_opt_out"]
    weights: dict[tuple[str, str], list[tuple[Decimal, int]]] = {}
    for age, income, rate, weight in ctx.rows("select age_segment, income_segment, deferral_rate, weight "
                                              "from config_voluntary_deferral_rates order by deferral_rate"):
        weights.setdefault((age, income), []).append((rate, weight))
    expected = {}
    for emp, year, age, tenure, pay, entry, termination, opted_out in ctx.rows("""
            select s.employee_id, s.simulation_year, s.current_age, s.current_tenure, s.start_salary,
                   plan_entry(s.employee_birth_date, s.employee_hire_date), s.termination_date,
                   (select max(o.simulation_year) from fct_yearly_events o where o.employee_id = s.employee_id
                    and o.event_type = 'enrollment_change' and o.simulation_year < s.simulation_year)
            from snap s
            where s.start_rate = 0 and not exists (
                select 1 from fct_yearly_events a where a.employee_id = s.employee_id
                and a.simulation_year = s.simulation_year and a.event_category = 'auto_enrollment')
            """) if cfg["voluntary_enrollment.enabled"] else ():
        start = max(entry, date(year, 1, 1))
        end = min(termination or date(year, 12, 31), date(year, 12, 31))
        probability = (ctx.rate(f"voluntary_enrollment.rate_by_age.{_age_segment(age)}")
                       * ctx.rate(f"voluntary_enrollment.income_multiplier.{_income_segment(pay)}"))
        if (opted_out is not None and year - opted_out < wait) or start > end \
                or not draw(seed, "voluntary", emp, year) < float(probability):
            continue
        day = start + timedelta(days=int(draw(seed, "voluntary_date", emp, year) * ((end - start).days + 1)))
        if draw(seed, "voluntary_magnet", emp, year) < float(ctx.rate("voluntary_enrollment.match_magnet")):
            rate = match_magnet(cfg, tenure)
        else:
            table = weights[(_age_segment(age), _income_segment(pay))]
            ticket, reached = int(draw(seed, "voluntary_rate", emp, year) * sum(w for _, w in table)), 0
            rate = next(r for r, w in table if (reached := reached + w) > ticket)
        expected[(emp, year)] = (day, rate, Decimal(0))
    stored = {(emp, year): (day, rate, prev) for emp, year, day, rate, prev in ctx.rows(
        "select employee_id, simulation_year, effective_date, employee_deferral_rate, prev_employee_deferral_rate "
        "from fct_yearly_events where event_category = 'voluntary_enrollment'")}
    wrong = [f"{emp} {year}: stored {stored.get((emp, year))}, the rule gives {expected.get((emp, year))}"
             for emp, year in sorted(set(stored) | set(expected)) if stored.get((emp, year)) != expected.get((emp, year))]
    return _recomputation_report(ctx, "voluntary enrollments", '"Voluntary enrollment"', wrong)


def invariant_18_nondiscrimination_recomputed(ctx: Ctx) -> list[str]:
    """Every person-year's is_hce and every row of fct_nondiscrimination (counts, averages, limit, pass, margin,
    exemption, refunds, forfeited match, per-HCE corrections) equal pytest_planwise.nondiscrimination's
    recomputation from the snapshot, the census and the seeds."""
    from .nondiscrimination_check import differences  # it reuses this module's Ctx: imported when used

    return _recomputation_report(ctx, "HCE status / ADP and ACP tests", '"Nondiscrimination tests"', differences(ctx))


INVARIANTS = (
    invariant_1_headcount_quotas_and_hires_by_level,
    invariant_2_start_population_is_last_years_actives,
    invariant_3_unique_keys_and_new_hire_identities,
    invariant_4_no_null_compensation_and_hire_pay_in_band,
    invariant_5_pay_events_set_salary_and_carry_into_next_year,
    invariant_6_event_dates_and_sequence,
    invariant_7_age_and_tenure_advance_one_year,
    invariant_8_prorated_pay_and_contribution_limits,
    invariant_9_deferral_rates_change_only_through_events,
    invariant_12_employee_contribution_day_by_day,
    invariant_13_match_and_core_recomputed,
    invariant_14_auto_enrollment_dates,
    invariant_15_opt_out_dates_and_re_enrollment,
    invariant_16_plan_entry,
    invariant_17_employer_accounts_recomputed,
    invariant_18_nondiscrimination_recomputed,
    invariant_19_match_response,
    invariant_20_voluntary_enrollment,
)


def check_invariants(run: PlanwiseRun, name: str = "run") -> list[str]:
    """Every invariant on a finished run; an empty list means all hold."""
    ctx = open_context(run, name)
    try:
        return [problem for invariant in INVARIANTS for problem in invariant(ctx)]
    finally:
        ctx.con.close()
