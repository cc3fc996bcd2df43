"""The ADP and ACP tests of a finished run recomputed in plain Python (pytest_planwise.nondiscrimination), against
fct_nondiscrimination and the snapshot's is_hce.

Inputs are only what the rules are written on: the snapshot's pay, contributions, dates and ages, the census's
compensation (the first year's look-back), the HCE thresholds and 402(g) limits of the seeds, and the run's config.
HCE status and eligibility are recomputed here (the HCE rule from the seed file itself, plan entry from
pytest_planwise.plan_entry), each year's prior non-HCE averages from this module's own previous year.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

from navigator_orchestrator.inputs.paths import DBT_DIR

from .invariants import Ctx
from .nondiscrimination import Person, TestResult, year_tests
from .plan_entry import entry_date

HCE_SEED = DBT_DIR / "seeds" / "config_hce_threshold.csv"
FIELDS = ("hce_count", "nhce_count", "hce_average", "nhce_average", "current_nhce_average", "test_limit", "passed",
          "margin", "exempt_reason", "corrective_amount", "forfeited_match", "corrections")


def hce_thresholds() -> dict[int, Decimal]:
    """Look-back year -> the 414(q)(1)(B) threshold, read from the seed file."""
    with HCE_SEED.open(newline="") as handle:
        return {int(row["lookback_year"]): Decimal(row["hce_compensation_threshold"]) for row in csv.DictReader(handle)}


def _lookback_pay(ctx: Ctx, year: int) -> dict[str, Decimal]:
    """Pay of year - 1 by person: the census compensation for the first year, else last year's prorated pay."""
    if year == ctx.years[0]:
        rows = ctx.rows("select employee_id, employee_gross_compensation from raw_census")
    else:
        rows = ctx.rows("select employee_id, prorated_annual_compensation from fct_workforce_snapshot "
                        "where simulation_year = ?", [year - 1])
    return dict(rows)


def _people(ctx: Ctx, year: int, threshold: Decimal, problems: list[str]) -> list[Person]:
    """The year's eligible people, HCE status recomputed (a stored is_hce that differs is a problem)."""
    lookback = _lookback_pay(ctx, year)
    base_limit = ctx.one("select base_limit from config_irs_limits where limit_year = ?", [year])[0]
    rows = ctx.rows("""
        select employee_id, employee_hire_date, employee_birth_date, termination_date, enrollment_date, is_hce,
               plan_compensation, employee_contribution, employer_match_amount, current_tenure
        from fct_workforce_snapshot where simulation_year = ? order by employee_id""", [year])
    people = []
    for emp, hire, birth, termination, enrolled, stored_hce, pay, deferral, match, tenure in rows:
        hired_this_year = hire.year == year and emp not in lookback
        is_hce = not hired_this_year and lookback.get(emp, Decimal(0)) > threshold
        if stored_hce != is_hce:
            problems.append(f"{year} {emp}: is_hce {stored_hce}, the rule gives {is_hce} "
                            f"(look-back pay {lookback.get(emp)}, threshold {threshold})")
        eligible = enrolled is not None or entry_date(ctx.cfg, birth, hire) <= (termination or date(year, 12, 31))
        if pay > 0 and eligible:
            people.append(Person(emp, is_hce, pay, min(deferral, base_limit), match, tenure))
    return people


def _expected(result: TestResult, used_nhce: Decimal | None) -> dict:
    return {"hce_count": result.hce_count, "nhce_count": result.nhce_count, "hce_average": result.hce_average,
            "nhce_average": used_nhce, "current_nhce_average": result.nhce_average, "test_limit": result.limit,
            "passed": result.passed, "margin": result.margin, "exempt_reason": result.exempt_reason,
            "corrective_amount": result.corrective_amount, "forfeited_match": result.forfeited_match,
            "corrections": sorted(result.refunds.items())}


def differences(ctx: Ctx) -> list[str]:
    """Every way the run's is_hce and fct_nondiscrimination differ from the recomputation, one line each."""
    problems: list[str] = []
    thresholds = hce_thresholds()
    method = ctx.cfg["nondiscrimination.testing_method"]
    prior: dict[str, Decimal | None] = {}
    for year in ctx.years:
        people = _people(ctx, year, thresholds[year - 1], problems)
        results = year_tests(people, ctx.cfg, method, prior)
        stored = {row[0]: dict(zip(FIELDS, row[1:])) for row in ctx.rows(f"""
            select test, {", ".join(FIELDS[:-1])},
                   list_sort(list_transform(corrections, lambda c: [c.employee_id, CAST(c.amount AS VARCHAR)]))
            from fct_nondiscrimination where simulation_year = ?""", [year])}
        for result in results:
            used = prior.get(result.test) if method == "prior_year" and prior.get(result.test) is not None \
                else result.nhce_average
            expected = _expected(result, used)
            got = stored.get(result.test)
            if got is None:
                problems.append(f"{year} {result.test}: no row in fct_nondiscrimination")
                continue
            got["corrections"] = [(emp, Decimal(amount)) for emp, amount in got["corrections"]]
            for name in FIELDS[:-1]:
                if got[name] != expected[name]:
                    problems.append(f"{year} {result.test} {name}: stored {got[name]!r}, recomputed {expected[name]!r}")
            wrong = sorted(set(got["corrections"]) ^ set(expected["corrections"]))
            if wrong:
                problems.append(f"{year} {result.test} corrections: {len(wrong)} (employee, amount) pairs differ, "
                                f"first {wrong[0]}")
        prior = {result.test: result.nhce_average for result in results}
    return problems
