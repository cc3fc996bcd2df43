"""The yearly ADP and ACP nondiscrimination tests (Treas. Reg. 1.401(k)-2, 1.401(m)-2) and their correction by
refund, written apart from the SQL so invariants can check the model.

A person's ratio is amount / plan compensation rounded half up to hundredths of a percent; a group's average is the
mean of its ratios, rounded the same way. The highly compensated (HCE) average passes when it is at most the limit
max(1.25 N, min(2 N, N + 2 points)) of the non-HCE average N. A failed ADP test is corrected by leveling: the
highest HCE ratios are lowered to the cap that brings the HCE mean down to the limit, which sets the total excess;
that total is then refunded from the highest deferral dollar amounts down, and the match on refunded deferrals is
forfeited. The ACP test runs on the match left after that forfeiture and is leveled the same way on match dollars.
Every amount is Decimal dollars, every intermediate an exact Fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any, Mapping, Sequence

from .employer_rules import PUBLISHED, match_amount

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
TESTING_METHODS = ("current_year", "prior_year")


@dataclass(frozen=True)
class Person:
    """One eligible person's year: deferral excludes catch-up; years_of_service picks the match formula's band."""
    employee_id: str
    is_hce: bool
    compensation: Decimal
    deferral: Decimal
    match: Decimal
    years_of_service: int


@dataclass(frozen=True)
class TestResult:
    """One test's outcome; averages, limit and margin are None where a group they need is empty."""
    __test__ = False  # not a pytest test class despite its name

    test: str
    hce_count: int
    nhce_count: int
    hce_average: Decimal | None
    nhce_average: Decimal | None
    limit: Decimal | None
    passed: bool
    margin: Decimal | None
    exempt_reason: str | None
    corrective_amount: Decimal = ZERO
    forfeited_match: Decimal = ZERO
    refunds: dict[str, Decimal] = field(default_factory=dict)


def _half_up(value: Fraction, places: int) -> Decimal:
    """Round a non-negative exact value half up: Decimal division would round at its context precision first."""
    return Decimal(math.floor(value * 10 ** places + Fraction(1, 2))).scaleb(-places)


def _cents(value: Fraction) -> Decimal:
    return _half_up(value, 2)


def _floor_cents(value: Fraction) -> Decimal:
    return Decimal(math.floor(value * 100)).scaleb(-2)


def ratio(amount: Decimal, compensation: Decimal) -> Decimal:
    """A person's deferral or contribution percentage, to hundredths of a percent (4 places as a fraction)."""
    return _half_up(Fraction(amount) / Fraction(compensation), 4)


def average(ratios: Sequence[Decimal]) -> Decimal:
    """A group's average of the already rounded ratios, itself rounded to 4 places."""
    return _half_up(sum(map(Fraction, ratios), Fraction(0)) / len(ratios), 4)


def test_limit(nhce_average: Decimal) -> Decimal:
    """The highest passing HCE average: the greater of 1.25 N and the lesser of 2 N and N + 2 points."""
    return max(nhce_average * Decimal("1.25"), min(2 * nhce_average, nhce_average + Decimal("0.02")))


test_limit.__test__ = False  # type: ignore[attr-defined]  # a rule, not a pytest test, when imported into one


def level_by_percentage(ratios: Sequence[Decimal], limit: Decimal) -> Fraction:
    """The cap c with mean(min(ratio, c)) = limit over the HCEs: the highest ratios come down to c together, as
    1.401(k)-2(b)(2)(ii) lowers the highest first. When the exact mean of the ratios is not above the limit (the
    average failed only by rounding up), no cap reaches it: the highest ratio, the smallest cap that lowers nobody."""
    ordered = sorted(map(Fraction, ratios), reverse=True)
    total = min(Fraction(limit), sum(ordered, Fraction(0)) / len(ordered)) * len(ordered)
    for capped in range(1, len(ordered)):
        cap = (total - sum(ordered[capped:], Fraction(0))) / capped
        if cap >= ordered[capped]:
            return cap
    return total / len(ordered)


def _dollar_level(descending: Sequence[Fraction], total: Fraction) -> Fraction:
    """The level m with sum(max(0, amount - m)) = total over amounts sorted highest first."""
    for leveled in range(1, len(descending)):
        level = (sum(descending[:leveled], Fraction(0)) - total) / leveled
        if level >= descending[leveled]:
            return level
    return (sum(descending, Fraction(0)) - total) / len(descending)


def level_by_dollars(amounts: Mapping[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """Refunds of `total` from the highest dollar amounts (1.401(k)-2(b)(3)(iii)): everyone above the level m is
    brought down to it, each share floored to the cent, and the cents the floors lost go one each to those above m
    by highest amount, ties by employee_id, so the refunds sum to `total` exactly (amounts in whole cents). Only
    positive refunds are returned."""
    order = sorted(amounts, key=lambda emp: (-amounts[emp], emp))
    level = _dollar_level([Fraction(amounts[emp]) for emp in order], Fraction(total))
    shares = {emp: Fraction(amounts[emp]) - level for emp in order}
    refunds = {emp: _floor_cents(share) if share > 0 else ZERO for emp, share in shares.items()}
    missing = int((total - sum(refunds.values(), ZERO)) / CENT)
    for emp in [emp for emp in order if shares[emp] > 0][:missing]:
        refunds[emp] += CENT
    return {emp: refund for emp, refund in refunds.items() if refund > 0}


def _excess(hces: Sequence[Person], amounts: Mapping[str, Decimal], limit: Decimal) -> Decimal:
    """The total excess of leveling by percentage: each HCE's amount above cap x pay, rounded to the cent."""
    cap = level_by_percentage([ratio(amounts[p.employee_id], p.compensation) for p in hces], limit)
    return sum((_cents(max(Fraction(0), Fraction(amounts[p.employee_id]) - cap * Fraction(p.compensation)))
                for p in hces), ZERO)


def _group_average(group: Sequence[Person], amounts: Mapping[str, Decimal]) -> Decimal | None:
    return average([ratio(amounts[p.employee_id], p.compensation) for p in group]) if group else None


def _result(test: str, people: Sequence[Person], amounts: Mapping[str, Decimal], safe_harbor: bool,
            prior_nhce_average: Decimal | None) -> TestResult:
    """One test on `amounts` (by employee_id), corrected by refund when it fails; exemptions come first."""
    hces = [p for p in people if p.is_hce]
    nhces = [p for p in people if not p.is_hce]
    hce_average, nhce_average = _group_average(hces, amounts), _group_average(nhces, amounts)
    base = nhce_average if prior_nhce_average is None else prior_nhce_average
    limit = None if base is None else test_limit(base)
    margin = None if limit is None or hce_average is None else limit - hce_average
    exempt = "no HCEs" if not hces else "no non-HCEs" if not nhces else "safe harbor" if safe_harbor else None
    result = TestResult(test, len(hces), len(nhces), hce_average, nhce_average, limit, True, margin, exempt)
    if exempt is not None or margin >= 0:  # not exempt: both groups exist, so limit and margin do
        return result
    excess = _excess(hces, amounts, limit)
    refunds = level_by_dollars({p.employee_id: amounts[p.employee_id] for p in hces}, excess)
    return replace(result, passed=False, corrective_amount=excess, refunds=refunds)


def _forfeited_match(cfg: Mapping[str, Any], person: Person, refund: Decimal) -> Decimal:
    """The match the refunded deferral no longer earns: the formula's match on what stays, never raising it."""
    kept = _cents(Fraction(match_amount(cfg, person.deferral - refund, person.compensation, person.years_of_service)))
    return person.match - min(person.match, kept)


def year_tests(people: Sequence[Person], cfg: Mapping[str, Any], testing_method: str = "current_year",
               prior_nhce_averages: Mapping[str, Decimal | None] | None = None) -> tuple[TestResult, TestResult]:
    """The year's (ADP, ACP) results. Under `prior_year` testing the limit comes from the previous year's non-HCE
    average given per test in `prior_nhce_averages`; where that is None (the first simulated year has no previous
    year) this year's is used, as under `current_year`. The reported nhce_average is always this year's. The safe
    harbor formulas exempt both tests: they match no deferral above 6 % of pay. The ACP test runs on the match less
    what the ADP correction forfeited."""
    if testing_method not in TESTING_METHODS:
        raise ValueError(f"testing_method must be one of {TESTING_METHODS}, not {testing_method!r}")
    prior = (prior_nhce_averages or {}) if testing_method == "prior_year" else {}
    safe_harbor = cfg["employer_match.formula"] in PUBLISHED
    adp = _result("ADP", people, {p.employee_id: p.deferral for p in people}, safe_harbor, prior.get("ADP"))
    forfeited = {p.employee_id: _forfeited_match(cfg, p, adp.refunds[p.employee_id])
                 for p in people if p.employee_id in adp.refunds}
    adp = replace(adp, forfeited_match=sum(forfeited.values(), ZERO))
    matches = {p.employee_id: p.match - forfeited.get(p.employee_id, ZERO) for p in people}
    return adp, _result("ACP", people, matches, safe_harbor, prior.get("ACP"))
