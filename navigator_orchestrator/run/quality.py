"""Per-year quality gates: every check is data (name, severity, SQL returning the failing rows, fix hint).

A year counts as done only when its gate passed. The gate fails closed: an error-severity check with failing
rows, a check that raises, or one that returns no verdict stops the run at that year. Warnings never stop a run.
Results are appended to `dq_results` (history by run_id, which dbt's `store_failures` does not keep) with a
sample of the failing rows, and returned for the log and the summary.

Each check's SQL takes `$year` and returns one row per problem with `employee_id` (NULL for a whole-year
problem) and `reason`; `$min_change`/`$max_change` are the tunable `quality.` thresholds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb

from ..dbt_layer.inserts import insert_rows
from ..errors import InputError, SimulationError
from ..inputs.config import SimulationConfig
from ..safety.masking import mask_data

SAMPLE_SIZE = 20
ERROR, WARN = "error", "warn"
# A check that raises one of these could not run (its SQL, or the values it met): a blocking result of its own.
# Any other DuckDB error (a corrupt block, an I/O error) is the database's: raised, so the caller says to restore a
# backup and records nothing.
CHECK_FAULTS = (duckdb.ProgrammingError, duckdb.DataError, duckdb.NotSupportedError)


@dataclass(frozen=True)
class Check:
    name: str
    severity: str
    sql: str
    hint: str
    counts: str | None = None  # optional SQL for a figure recorded with the result (e.g. contributors)
    # optional SQL returning one boolean, cheap: false means `sql` cannot find a row, so it is not run (a check
    # whose rows need a join of two large tables runs that join only when a sum over each of them disagrees)
    only_if: str | None = None


@dataclass
class CheckResult:
    """One check of one year: `status` is pass, fail (failing rows) or error (the check itself broke)."""

    run_id: str
    year: int
    check: str
    severity: str
    status: str
    failing_count: int
    sample: list[dict] = field(default_factory=list)
    hint: str = ""
    detail: str = ""
    figures: dict = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        """Whether this result stops the run: any check that broke, or a failed error-severity check."""
        return self.status == "error" or (self.status == "fail" and self.severity == ERROR)

    def outcome(self) -> str:
        """What the check found: ok, the failing count with the first ids and a reason, or why it could not run."""
        ids = [row["employee_id"] for row in self.sample if row.get("employee_id")]
        first = f" (first: {', '.join(ids[:5])})" if ids else ""
        reason = self.detail or (self.sample[0]["reason"] if self.sample else "")
        return {"pass": "ok", "fail": f"{self.failing_count:,} failing{first}: {reason}",
                "error": f"check could not run: {self.detail}"}[self.status]

    def line(self) -> str:
        return f"quality {self.year} {self.check} [{self.severity}]: {self.outcome()}"

    def to_dict(self) -> dict:
        return asdict(self)


_ACTIVE_PAY = "select avg(current_compensation) from fct_workforce_snapshot " \
              "where simulation_year = {year} and employment_status = 'active'"
# The reference pay of year Y: last year's active snapshot, or the census actives for the first simulated year.
_REFERENCE_PAY = f"""coalesce(
    ({_ACTIVE_PAY.format(year='$year - 1')}),
    (select avg(employee_gross_compensation) from stg_census_data where is_start_population))"""

CHECKS: tuple[Check, ...] = (
    Check("workforce_count", ERROR, """
        with needs as (select * from int_workforce_needs where simulation_year = $year),
        actual as (select count(*) as n from fct_workforce_snapshot
                   where simulation_year = $year and employment_status = 'active')
        select null as employee_id,
               'end headcount ' || actual.n || ', expected ' || coalesce(needs.expected_end_headcount::VARCHAR, 'no needs row')
               || ' (N - T_exp + H - T_nh)' as reason
        from actual left join needs on true
        where actual.n = 0 or needs.expected_end_headcount is null or actual.n <> needs.expected_end_headcount""",
          "rebuild the year's models: `dbt run --select int_workforce_needs+ --vars '{simulation_year: YEAR}'`, "
          "then check the census's start population"),
    Check("null_comp_count", ERROR, """
        select employee_id, 'snapshot row with NULL ' || concat_ws(', ',
                   case when current_compensation is null then 'current_compensation' end,
                   case when full_year_equivalent_compensation is null then 'full_year_equivalent_compensation' end,
                   case when prorated_annual_compensation is null then 'prorated_annual_compensation' end) as reason
        from fct_workforce_snapshot
        where simulation_year = $year and (current_compensation is null
              or full_year_equivalent_compensation is null or prorated_annual_compensation is null)
        union all
        select employee_id, 'hire event with NULL compensation_amount' from fct_yearly_events
        where simulation_year = $year and event_type = 'hire' and compensation_amount is null""",
          "rebuild pay from the start population: "
          "`dbt run --select int_employee_compensation_by_year+ --vars '{simulation_year: YEAR}'`"),
    Check("hires_needed_vs_made", ERROR, """
        with made as (select level_id, count(*) as n from fct_yearly_events
                      where simulation_year = $year and event_type = 'hire' group by all)
        select null as employee_id,
               'level ' || coalesce(l.level_id, m.level_id) || ': ' || coalesce(l.hires_needed, 0) || ' hires needed, '
               || coalesce(m.n, 0) || ' made' as reason
        from (select * from int_workforce_needs_by_level where simulation_year = $year) l
        full join made m using (level_id)
        where coalesce(l.hires_needed, 0) <> coalesce(m.n, 0)""",
          "rebuild the hires: "
          "`dbt run --select int_workforce_needs_by_level int_hiring_events+ --vars '{simulation_year: YEAR}'`"),
    Check("avg_compensation", WARN, f"""
        with pay as (select ({_ACTIVE_PAY.format(year='$year')}) as now, {_REFERENCE_PAY} as before)
        select null as employee_id,
               'average active pay ' || round(before, 2) || ' -> ' || round(now, 2) || ' ('
               || round(100 * (now / before - 1), 2) || ' %, allowed ' || round(100 * $min_change, 2) || ' % to '
               || round(100 * $max_change, 2) || ' %)' as reason
        from pay
        where now is null or before is null or now / before - 1 < $min_change or now / before - 1 > $max_change""",
          "check the merit, COLA, promotion and new-hire pay settings; tune quality.avg_compensation_min_change / "
          "quality.avg_compensation_max_change if the change is intended"),
    Check("contribution_coverage", ERROR, """
        select employee_id, 'enrolled at ' || current_deferral_rate || ' with pay ' || prorated_annual_compensation
               || ' but contribution ' || coalesce(employee_contribution::VARCHAR, 'NULL') as reason
        from fct_workforce_snapshot
        where simulation_year = $year and employment_status = 'active' and is_enrolled_flag
          and current_deferral_rate > 0 and prorated_annual_compensation > 0
          and coalesce(employee_contribution, 0) <= 0""",
          "rebuild contributions: `dbt run --select int_employee_contributions+ --vars '{simulation_year: YEAR}'`",
          counts="select count(*) filter (where employee_contribution > 0) as contributors, "
                 "count(*) filter (where is_enrolled_flag and employment_status = 'active') as enrolled_actives "
                 "from fct_workforce_snapshot where simulation_year = $year"),
    Check("events_inside_year", ERROR, """
        select e.employee_id, e.event_type || ' dated ' || e.effective_date || case
                   when year(e.effective_date) <> $year then ', outside ' || $year
                   when e.effective_date < s.employee_hire_date then ', before the hire date ' || s.employee_hire_date
                   else ', after the termination on ' || s.termination_date end as reason
        from fct_yearly_events e
        left join fct_workforce_snapshot s on s.employee_id = e.employee_id and s.simulation_year = $year
        where e.simulation_year = $year and (year(e.effective_date) <> $year
              or e.effective_date < s.employee_hire_date or e.effective_date > s.termination_date)""",
          "rebuild the year's events: "
          "`dbt run --select int_employee_compensation_by_year+ --vars '{simulation_year: YEAR}'`"),
    Check("irs_limit", ERROR, """
        with people as (
            select s.employee_id, s.employee_contribution, $year - year(s.employee_birth_date) as age_dec_31,
                   s.employer_match_amount + s.employer_core_amount as employer, l.base_limit,
                   l.base_limit + case when $year - year(s.employee_birth_date) between 60 and 63 then l.catch_up_60_63
                                       when $year - year(s.employee_birth_date) >= 50 then l.catch_up_50 else 0 end
                       as deferral_limit,
                   l.annual_additions_limit
            from fct_workforce_snapshot s left join config_irs_limits l on l.limit_year = $year
            where s.simulation_year = $year)
        select employee_id, case
                   when deferral_limit is null then 'no IRS limit row for ' || $year
                   when employee_contribution > deferral_limit then 'contribution ' || employee_contribution
                        || ' above the ' || $year || ' 402(g) limit ' || deferral_limit || ' at age ' || age_dec_31
                   else 'deferral without catch-up + employer ' || (least(employee_contribution, base_limit) + employer)
                        || ' above the ' || $year || ' 415(c) limit ' || annual_additions_limit end as reason
        from people
        where deferral_limit is null or employee_contribution > deferral_limit
           or least(employee_contribution, base_limit) + employer > annual_additions_limit""",
          "check dbt/seeds/config_irs_limits.csv and rebuild contributions: "
          "`dbt run --select int_employee_contributions+ --vars '{simulation_year: YEAR}'`"),
    # Employer-money accounts (fct_employer_accounts, fct_employer_cost). The first simulated year opens at the
    # census balances: nothing to compare, so account_continuity returns no rows for it.
    Check("account_continuity", ERROR, """
        with compared as (select $year > min(simulation_year) as later from fct_workforce_snapshot),
        prev as (select employee_id, source, closing_balance from fct_employer_accounts
                 where simulation_year = $year - 1),
        cur as (select employee_id, source, opening_balance from fct_employer_accounts where simulation_year = $year),
        stayers as (select employee_id from fct_workforce_snapshot
                    where simulation_year = $year - 1 and employment_status = 'active'),
        expected as (select s.employee_id, p.source, p.closing_balance from stayers s left join prev p using (employee_id))
        select c.employee_id, c.source || ' account opens ' || $year || ' at '
               || coalesce(c.opening_balance::VARCHAR, 'NULL') || case when p.employee_id is null
                   then ', but there is no ' || c.source || ' account in ' || ($year - 1) || ' (a new account opens at 0)'
                   else ', but closed ' || ($year - 1) || ' at ' || coalesce(p.closing_balance::VARCHAR, 'NULL') end
               as reason
        from cur c left join prev p using (employee_id, source)
        where (select later from compared) and c.opening_balance is distinct from coalesce(p.closing_balance, 0)
        union all
        select e.employee_id, 'active at the end of ' || ($year - 1) || case when e.source is null
                   then ' but no account in ' || $year
                   else ' with a ' || e.source || ' account closing at ' || coalesce(e.closing_balance::VARCHAR, 'NULL')
                        || ', but no ' || e.source || ' account in ' || $year end as reason
        from expected e
        where (select later from compared) and not exists (
            select 1 from cur c where c.employee_id = e.employee_id and (e.source is null or c.source = e.source))""",
          "rebuild the accounts from the previous year's closing balances: "
          "`dbt run --select fct_employer_accounts+ --vars '{simulation_year: YEAR}'` (if the previous year's "
          "closing balances are wrong, rebuild that year first)",
          only_if="""
        with leavers as (select employee_id from fct_workforce_snapshot
                         where simulation_year = $year - 1 and termination_date is not null),
        hires as (select employee_id from fct_workforce_snapshot
                  where simulation_year = $year and detailed_status_code like 'new_hire%'),
        carried as (select count(*) as n, coalesce(sum(hash(employee_id, source, closing_balance)::HUGEINT), 0) as h
                    from fct_employer_accounts where simulation_year = $year - 1
                      and employee_id not in (select employee_id from leavers)),
        opened as (select count(*) as n, coalesce(sum(hash(employee_id, source, opening_balance)::HUGEINT), 0) as h
                   from fct_employer_accounts where simulation_year = $year
                     and employee_id not in (select employee_id from hires)),
        new as (select count(*) filter (where opening_balance <> 0) as above_0 from fct_employer_accounts
                where simulation_year = $year and employee_id in (select employee_id from hires))
        select $year > (select min(simulation_year) from fct_workforce_snapshot)
               and (carried.n <> opened.n or carried.h <> opened.h or new.above_0 > 0)
        from carried, opened, new"""),
    Check("vested_within_balance", ERROR, """
        select employee_id, source || ' account: ' || case
                   when vested_percent is null or vested_percent < 0 or vested_percent > 100
                        then 'vested_percent ' || coalesce(vested_percent::VARCHAR, 'NULL') || ' outside 0..100'
                   when vested_balance is null or vested_balance < 0
                        then 'vested_balance ' || coalesce(vested_balance::VARCHAR, 'NULL') || ' below 0'
                   else 'vested_balance ' || vested_balance || ' above opening + contributions + earnings '
                        || coalesce((opening_balance + contributions + earnings)::VARCHAR, 'NULL') end as reason
        from fct_employer_accounts
        where simulation_year = $year and (vested_percent is null or vested_percent < 0 or vested_percent > 100
              or vested_balance is null or vested_balance < 0
              or vested_balance > opening_balance + contributions + earnings
              or (opening_balance + contributions + earnings) is null)""",
          "check the vesting.match / vesting.core schedules and rebuild the accounts: "
          "`dbt run --select fct_employer_accounts+ --vars '{simulation_year: YEAR}'`"),
    Check("forfeited_only_by_leavers", ERROR, """
        select a.employee_id, a.source || ' account forfeits ' || coalesce(a.forfeited_amount::VARCHAR, 'NULL')
               || case when a.forfeited_amount is null or a.forfeited_amount < 0 then ', not an amount >= 0'
                       when s.employee_id is null then ', but the person has no ' || $year || ' snapshot row'
                       else ', but the ' || $year || ' snapshot has no termination_date' end as reason
        from fct_employer_accounts a
        left join fct_workforce_snapshot s on s.employee_id = a.employee_id and s.simulation_year = $year
        where a.simulation_year = $year and (a.forfeited_amount is null or a.forfeited_amount < 0
              or (a.forfeited_amount > 0 and s.termination_date is null))""",
          "rebuild the accounts from the year's snapshot: "
          "`dbt run --select fct_workforce_snapshot+ --vars '{simulation_year: YEAR}'`"),
    Check("forfeitures_used_within_available", ERROR, """
        select null as employee_id, case
                   when c.simulation_year is null then 'no fct_employer_cost row for ' || $year
                   else 'forfeitures_used ' || coalesce(c.forfeitures_used::VARCHAR, 'NULL') || case
                       when c.forfeitures_used is null or c.forfeitures_used < 0 then ', not an amount >= 0'
                       else ' above the ' || coalesce(c.forfeitures_available::VARCHAR, 'NULL')
                            || ' forfeitures available in ' || $year end end as reason
        from (select $year as year) y
        left join fct_employer_cost c on c.simulation_year = y.year
        where c.simulation_year is null or c.forfeitures_used is null or c.forfeitures_used < 0
           or c.forfeitures_available is null or c.forfeitures_used > c.forfeitures_available""",
          "check the forfeitures.use setting and rebuild the year's cost: "
          "`dbt run --select fct_employer_cost --vars '{simulation_year: YEAR}'` (if the forfeitures carried in "
          "are wrong, rebuild the previous year's fct_employer_cost first)"),
)
CHECKS_BY_NAME = {check.name: check for check in CHECKS}


def thresholds(config: SimulationConfig) -> dict[str, float]:
    return {"min_change": config.get("quality.avg_compensation_min_change"),
            "max_change": config.get("quality.avg_compensation_max_change")}


def evaluate(con: duckdb.DuckDBPyConnection, run_id: str, year: int, config: SimulationConfig,
             checks: tuple[Check, ...] = CHECKS) -> list[CheckResult]:
    """Run every check on one year (read-only): a check that raises becomes a result with status `error`."""
    params = {"year": int(year), **thresholds(config)}
    return [_evaluate_one(con, check, run_id, int(year), params) for check in checks]


def _evaluate_one(con: duckdb.DuckDBPyConnection, check: Check, run_id: str, year: int,
                  params: dict[str, Any]) -> CheckResult:
    result = CheckResult(run_id, year, check.name, check.severity, "error", 0, hint=_hint(check, year))
    try:
        if check.only_if and not con.execute(check.only_if, _used(check.only_if, params)).fetchone()[0]:
            result.status = "pass"
            return result
        cursor = con.execute(check.sql, _used(check.sql, params))
        names = [column[0] for column in cursor.description or ()]
        if "employee_id" not in names or "reason" not in names:
            result.detail = f"returned columns {names}, not employee_id and reason: no verdict"
            return result
        rows = sorted((dict(zip(names, row)) for row in cursor.fetchall()),  # a stable sample: ids in order
                      key=lambda row: (row["employee_id"] is not None, str(row["employee_id"]), str(row["reason"])))
        if check.counts:
            cursor = con.execute(check.counts, _used(check.counts, params))
            result.figures = dict(zip([c[0] for c in cursor.description], cursor.fetchone()))
    except CHECK_FAULTS as error:  # the check's SQL against this schema; any other error is the database's
        result.detail = " ".join(str(error).split())[:300]
        return result
    result.status = "fail" if rows else "pass"
    result.failing_count = len(rows)
    result.sample = [{k: (None if v is None else str(v)) for k, v in row.items()} for row in rows[:SAMPLE_SIZE]]
    return result


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB rejects named parameters a statement does not use."""
    return {name: value for name, value in params.items() if f"${name}" in sql}


DQ_RESULTS_DDL = """create table if not exists dq_results (
    run_id varchar not null, year integer not null, "check" varchar not null, severity varchar not null,
    status varchar not null, failing_count integer not null, sample json, recorded_at timestamptz)"""


def record(con: duckdb.DuckDBPyConnection, results: list[CheckResult]) -> None:
    """Append the results to dq_results (masked; history is never rewritten)."""
    con.execute(DQ_RESULTS_DDL)
    now = datetime.now(timezone.utc)
    insert_rows(con, "dq_results", [[r.run_id, r.year, r.check, r.severity, r.status, r.failing_count,
                                     json.dumps(mask_data(r.sample)), now] for r in results])


class QualityGateError(SimulationError):
    """A year failed its quality gate: the run stops there and the year is not done."""


def _hint(check: Check, year: int) -> str:
    """The check's fix for this year. Plain dbt rebuilds one year (without `--vars` it would rebuild the first and
    drop the later ones); the run then continues from there."""
    return f"{check.hint.replace('YEAR', str(year))}; then `planwise run --resume` with the run's arguments"


@dataclass(frozen=True)
class Verdict:
    """Every result of a gate (one year's, or `planwise check`'s years) and what they decide together: the first
    blocking result stops the run (or fails the check) with its message and fix; warnings never do."""

    results: tuple[CheckResult, ...]

    @property
    def blocking(self) -> CheckResult | None:
        return next((r for r in self.results if r.blocks), None)

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail" and not r.blocks]

    @property
    def passed(self) -> bool:
        return self.blocking is None

    def message(self) -> str:
        """The blocking result as one line: check, year, what it found (empty when nothing blocks)."""
        first = self.blocking
        return "" if first is None else f"quality gate {first.check} failed for {first.year}: {first.outcome()}"

    def tally(self, check_id: str) -> str:
        """`planwise check`'s closing line."""
        return (f"check {check_id}: {len(self.results)} checks on {len({r.year for r in self.results})} years, "
                f"{sum(r.blocks for r in self.results)} blocking, {len(self.warnings)} warnings "
                f"(recorded in dq_results)")

    def enforce(self) -> None:
        """Raise QualityGateError for the first blocking result, with its fix: the year is not done."""
        if self.blocking is not None:
            raise QualityGateError(self.message(), self.blocking.hint)


def gate(con: duckdb.DuckDBPyConnection, run_id: str, year: int, config: SimulationConfig) -> Verdict:
    """Evaluate one year's checks and append them to dq_results (only when every check could be evaluated)."""
    results = evaluate(con, run_id, year, config)
    record(con, results)
    return Verdict(tuple(results))


def simulated_years(con: duckdb.DuckDBPyConnection, db_path: Any) -> list[int]:
    """The years a database holds a simulation of; InputError when it holds none."""
    present = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    if "fct_workforce_snapshot" not in present:
        raise InputError(f"{db_path} holds no simulation (no fct_workforce_snapshot table)",
                         "run `planwise run --years 2025-2029` (or plain dbt) on it first")
    return [y for (y,) in con.execute("select distinct simulation_year from fct_workforce_snapshot "
                                      "order by 1").fetchall()]


def check_database(db_path: Any, run_id: str, config: SimulationConfig, years: tuple[int, int] | None = None,
                   record_results: bool = True) -> Verdict:
    """`planwise check`: the gate on every (or the given) simulated year of an existing database. Evaluated on a
    read-only connection; recorded in dq_results afterwards, only when every check could be evaluated (a damaged
    file raises its DuckDB error and is left as it was)."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        built = simulated_years(con, db_path)
        wanted = built if years is None else list(range(years[0], years[1] + 1))
        missing = [y for y in wanted if y not in built]
        if missing or not wanted:
            raise InputError(f"{db_path} has no simulated rows for {', '.join(map(str, missing)) or 'any year'} "
                             f"(it holds {', '.join(map(str, built)) or 'none'})",
                             "pass --years within the simulated years, or run them first")
        results = [r for year in wanted for r in evaluate(con, run_id, year, config)]
    if record_results:
        with duckdb.connect(str(db_path)) as con:
            record(con, results)
    return Verdict(tuple(results))
