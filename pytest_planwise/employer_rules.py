"""The employer match and core as docs/simulation.md states them, written apart from the SQL so invariants can check
the model.

A formula is a list of tiers (rate, up_to): each tier matches `rate` of the deferral made between the previous
tier's `up_to` and its own, both shares of plan compensation. single_tier is the one tier (rate,
max_match_percentage); the safe harbor formulas are the published ones; service_tiered takes the tiers of the last
band whose min_years the person has reached (years of service: Y - hire year).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Mapping

_HALF, _ONE = Decimal("0.5"), Decimal(1)
PUBLISHED = {  # IRC 401(k)(12)(B) basic and the common enhanced match; 401(k)(13)(D) QACA
    "safe_harbor_basic": ((_ONE, Decimal("0.03")), (_HALF, Decimal("0.05"))),
    "safe_harbor_enhanced": ((_ONE, Decimal("0.04")),),
    "qaca": ((_ONE, Decimal("0.01")), (_HALF, Decimal("0.06"))),
}


def _exact(pairs: Any) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((Decimal(str(rate)), Decimal(str(up_to))) for rate, up_to in pairs)


def match_tiers(cfg: Mapping[str, Any], years_of_service: int) -> tuple[tuple[Decimal, Decimal], ...]:
    """The (rate, up_to) tiers that apply to a person with `years_of_service` under the config's formula."""
    formula = cfg["employer_match.formula"]
    if formula == "single_tier":
        return _exact([(cfg["employer_match.rate"], cfg["employer_match.max_match_percentage"])])
    if formula == "tiered":
        return _exact(cfg["employer_match.tiers"])
    if formula == "service_tiered":
        reached = [tiers for min_years, tiers in cfg["employer_match.service_tiers"] if years_of_service >= min_years]
        return _exact(reached[-1])
    return PUBLISHED[formula]


def match_amount(cfg: Mapping[str, Any], deferral: Decimal, plan_pay: Decimal, years_of_service: int) -> Decimal:
    """The match before 415(c), unrounded: each tier's rate on the deferral dollars inside its band of pay, capped by
    max_match_amount when set."""
    total, floor = Decimal(0), Decimal(0)
    for rate, up_to in match_tiers(cfg, years_of_service):
        inside = min(deferral, plan_pay * up_to) - plan_pay * floor
        total += rate * max(inside, Decimal(0))
        floor = up_to
    cap = cfg["employer_match.max_match_amount"]
    return total if cap is None else min(total, Decimal(str(cap)))


def match_ceiling(cfg: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """(largest match as a share of plan pay, largest rate on a deferral dollar) over every band of the formula:
    what no person's match can exceed, whatever their deferral or service."""
    bands = [tiers for _, tiers in cfg["employer_match.service_tiers"]] \
        if cfg["employer_match.formula"] == "service_tiered" else [None]
    shares, rates = [], []
    for tiers in bands:
        exact = _exact(tiers) if tiers is not None else match_tiers(cfg, 0)
        floors = [Decimal(0), *(up_to for _, up_to in exact[:-1])]
        shares.append(sum(rate * (up_to - floor) for (rate, up_to), floor in zip(exact, floors)))
        rates.append(max(rate for rate, _ in exact))
    return max(shares), max(rates)


def core_amount(cfg: Mapping[str, Any], plan_pay: Decimal, age: int, years_of_service: int,
                wage_base: Decimal | None) -> Decimal:
    """The core before 415(c), unrounded: flat rate; the rate of the last band whose min the person's service, age or
    points (age + service) reach; or integrated: base_rate on pay up to the wage base, excess_rate above it."""
    if not cfg["employer_core_contribution.enabled"]:
        return Decimal(0)
    formula = cfg["employer_core_contribution.formula"]
    if formula == "flat":
        return plan_pay * Decimal(str(cfg["employer_core_contribution.rate"]))
    if formula == "integrated":
        base, excess = (Decimal(str(cfg[f"employer_core_contribution.{key}"])) for key in ("base_rate", "excess_rate"))
        above = max(plan_pay - wage_base, Decimal(0))
        return base * (plan_pay - above) + excess * above
    measure = {"service_graded": years_of_service, "age_banded": age, "points": age + years_of_service}[formula]
    rate = [rate for low, rate in cfg["employer_core_contribution.bands"] if measure >= low][-1]
    return plan_pay * Decimal(str(rate))


def gets_employer_money(cfg: Mapping[str, Any], source: str, hours: Decimal, years_of_service: int,
                        employed_on_dec_31: bool) -> bool:
    """Whether a person-year meets a source's conditions ("match" or "core"): its minimum hours (the match's default
    to the core's, none under a safe harbor match), minimum years of service, and its last-day rule (the match's
    default: on, off under a safe harbor match)."""
    section = "employer_match" if source == "match" else "employer_core_contribution"
    minimum_hours = cfg[f"{section}.minimum_hours"]
    if minimum_hours is None:
        minimum_hours = 0 if _safe_harbor(cfg, source) else cfg["employer_core_contribution.minimum_hours"]
    return (hours >= minimum_hours and years_of_service >= cfg[f"{section}.minimum_service_years"]
            and (employed_on_dec_31 or not last_day_rule(cfg, source)))


def last_day_rule(cfg: Mapping[str, Any], source: str) -> bool:
    """Whether a source ("match" or "core") goes only to people employed on Dec 31."""
    rule = cfg["employer_match.last_day_rule" if source == "match" else "employer_core_contribution.last_day_rule"]
    return not _safe_harbor(cfg, source) if rule is None else rule


def _safe_harbor(cfg: Mapping[str, Any], source: str) -> bool:
    return source == "match" and cfg["employer_match.formula"] in PUBLISHED


def periodic_match(cfg: Mapping[str, Any], stretches: list[tuple[int, int, Decimal, Decimal]], days: int,
                   deferral_limit: Decimal, pay_limit: Decimal, years_of_service: int) -> Decimal:
    """The year's match without true-up, before eligibility and 415(c) (docs/simulation.md "Match per pay period
    and true-up"), in exact fractions. `stretches` are (first day, last day, salary, deferral rate): day numbers
    counted from 0 on Jan 1, both ends employed, salary and rate constant in between; `days` is D.

    Pay period k of P covers [(k - 1) D / P, k D / P) of the year's day line, day n being [n, n + 1). Each period
    gets the salary / D per day and rate x that pay of the time it shares with each stretch. Walking the periods in
    order, a period defers what the 402(g) limit has left after the earlier periods and counts as plan pay what the
    401(a)(17) limit has left; the formula's tiers (no dollar cap) on those two give the period's match. The sum is
    rounded to the cent once, then max_match_amount caps it."""
    periods = cfg["payroll.periods_per_year"]
    length = Fraction(days, periods)
    deferred = counted = total = Fraction(0)
    tiers = [(Fraction(rate), Fraction(up_to)) for rate, up_to in match_tiers(cfg, years_of_service)]
    for k in range(periods):
        start, end = k * length, (k + 1) * length
        pay = requested = Fraction(0)
        for first, last, salary, rate in stretches:
            shared = min(end, Fraction(last + 1)) - max(start, Fraction(first))
            if shared > 0:
                earned = Fraction(salary) * shared / days
                pay, requested = pay + earned, requested + Fraction(rate) * earned
        deferral = min(requested, max(Fraction(0), Fraction(deferral_limit) - deferred))
        plan = min(pay, max(Fraction(0), Fraction(pay_limit) - counted))
        deferred, counted = deferred + deferral, counted + plan
        below = Fraction(0)
        for rate, up_to in tiers:
            total += rate * max(Fraction(0), min(deferral, plan * up_to) - plan * below)
            below = up_to
    cents = (2 * total * 100 + 1) // 2  # half up; the sum is never negative
    match = Decimal(int(cents)) / 100
    cap = cfg["employer_match.max_match_amount"]
    return match if cap is None else min(match, Decimal(str(cap))).quantize(Decimal("0.01"), ROUND_HALF_UP)


def same_share_every_period(stretches: list[tuple[int, int, Decimal, Decimal]], deferral_capped: bool,
                            prorated_pay: Decimal, pay_limit: Decimal) -> bool:
    """The shortcut of "Match per pay period and true-up": one deferral rate over all employed days, the 402(g)
    limit not reached and prorated pay within the 401(a)(17) limit, so every period defers the same share of its
    pay; such a person's match without true-up is the annual formula's."""
    return len({rate for _, _, _, rate in stretches}) == 1 and not deferral_capped and prorated_pay <= pay_limit
