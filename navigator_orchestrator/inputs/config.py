"""Simulation configuration: one declarative schema, one validator, one frozen result.

Every setting is a row of `SCHEMA` (key, type, default, range, meaning). That table is the only place a key,
default or range is written down: the defaults, the validation, the documentation (`schema_markdown`,
`render_yaml`) and the dbt `--vars` names (`Setting.dbt_var`) are all derived from it, so they cannot drift.

Validation never stops at the first problem: a user fixing a config file wants the whole list at once, so every
problem is collected (unknown keys, wrong types, out-of-range values, cross-key rules) and raised as one
`ConfigError`. Values are never coerced silently: a YAML boolean is not a number, a string is not a number.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import math
from decimal import Decimal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from . import paths
from ..errors import ConfigError

__all__ = [
    "CROSS_RULES",
    "FORMULA_LISTS",
    "LEGAL_CLIFF_YEARS",
    "LEGAL_GRADED",
    "SAFE_HARBOR_VESTING",
    "SCHEMA",
    "SCHEMA_BY_KEY",
    "SECTIONS",
    "Setting",
    "SimulationConfig",
    "VESTING_SCHEDULES",
    "describe",
    "from_mapping",
    "load_config",
    "overlay_file",
    "read_yaml",
    "render_yaml",
    "schema_markdown",
    "vested_percent",
]

INT, NUMBER, BOOL, DATE, CHOICE, NAMES = "int", "number", "bool", "date", "choice", "names"
# lists of {rate, up_to}; of {min_years, tiers}; of {min, rate}; of {years, percent}
TIERS, SERVICE_TIERS, BANDS, SCHEDULE = "tiers", "service_tiers", "bands", "schedule"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Setting:
    """One configuration key. `lo_open`/`hi_open` make a bound exclusive (e.g. an increment must be > 0).

    `simulated=False` marks a key of the orchestrator (backups, environment) that cannot change a result: it is
    not sent to dbt and not part of `digest()`, so changing it neither alters nor invalidates a run's identity.
    `optional=True` lets the value be null (none: e.g. no dollar cap)."""

    key: str
    kind: str
    default: Any
    doc: str
    lo: Any = None
    hi: Any = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[Any, ...] = ()
    simulated: bool = True
    optional: bool = False

    @property
    def dbt_var(self) -> str:
        """dbt var names cannot contain dots, so '.' becomes '__' (a pure rename, reversible)."""
        return self.key.replace(".", "__")

    @property
    def allowed(self) -> str:
        """The accepted values in words; used verbatim in error messages and in the docs."""
        if self.kind == BOOL:
            return "true or false" + (", or null for the formula's default" if self.optional else "")
        if self.kind == CHOICE:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.choices:  # an integer from a short list (pay periods per year)
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.kind == NAMES:
            return "a list of environment variable names (letters, digits, _), e.g. [PLANWISE_API_TOKEN]"
        if self.kind == TIERS:
            return ("a list of {rate, up_to}: rate in 0..1 of the deferral between the previous tier's up_to and this "
                    "one's, up_to a share of pay in 0..1, strictly increasing, e.g. "
                    "[{rate: 1.0, up_to: 0.03}, {rate: 0.5, up_to: 0.05}]")
        if self.kind == SERVICE_TIERS:
            return ("a list of {min_years, tiers}: min_years whole years of service, ascending from 0, each with its "
                    "tier list, e.g. [{min_years: 0, tiers: [{rate: 0.5, up_to: 0.06}]}, "
                    "{min_years: 5, tiers: [{rate: 1.0, up_to: 0.06}]}]")
        if self.kind == BANDS:
            return ("a list of {min, rate}: from min (whole years of service, of age, or points) up, rate of plan pay; "
                    "min ascending from 0, rate in 0..1, e.g. [{min: 0, rate: 0.02}, {min: 10, rate: 0.04}]")
        if self.kind == SCHEDULE:
            return ("a list of {years, percent}: from years (whole years of vesting service, 0..50, strictly "
                    "ascending) on, percent (0..100, never falling) of the account is vested, 0 before the first; at "
                    "least as fast as the 3-year cliff or the 2-to-6-year graded schedule (IRC 411(a)(2)(B)), e.g. "
                    "[{years: 1, percent: 50}, {years: 2, percent: 100}]")
        noun = {INT: "an integer", NUMBER: "a number", DATE: "a date YYYY-MM-DD"}[self.kind]
        lo, hi = _fmt(self.lo), _fmt(self.hi)
        if self.lo_open or self.hi_open:
            words = f"{noun} {'>' if self.lo_open else '>='} {lo} and {'<' if self.hi_open else '<='} {hi}"
        else:
            words = f"{noun} in {lo}..{hi}"
        return words + (", or null for none" if self.optional else "")

    def check(self, raw: Any) -> tuple[Any, str | None]:
        """Return (normalised value, None) or (None, problem text without the key)."""
        value: Any = None
        if raw is None and self.optional:
            return None, None
        if self.kind in _TIER_JSON:
            if isinstance(raw, tuple):  # a normalised value (from another config): checked again in its JSON shape
                raw = _TIER_JSON[self.kind](raw)
            if not isinstance(raw, list):
                return None, f"expected {self.allowed}, got {describe(raw)}"
            if self.kind == SCHEDULE:
                return _check_schedule(raw, self.allowed)
            return _check_bands(raw, self.allowed) if self.kind == BANDS else _check_tier_kind(self.kind, raw,
                                                                                                  self.allowed)
        if self.kind == BOOL:
            value = raw if isinstance(raw, bool) else None
        elif self.kind == INT:
            value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
            value = None if self.choices and value not in self.choices else value
        elif self.kind == NUMBER:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                value = float(raw) + 0.0  # ints accepted; + 0.0 turns -0.0 into 0.0 so digests agree
        elif self.kind == DATE:
            value = _as_date(raw)
        elif self.kind == CHOICE:
            value = raw if isinstance(raw, str) and raw in self.choices else None
        elif self.kind == NAMES:
            return _check_names(raw, self.allowed)
        if value is None or not self._in_range(value):
            return None, f"expected {self.allowed}, got {describe(raw)}"
        return value, None

    def jsonable(self, value: Any) -> Any:
        """The value as JSON and YAML write it (dbt vars, digest, rendered config): tier lists as mappings."""
        return _TIER_JSON[self.kind](value) if self.kind in _TIER_JSON else _jsonable(value)

    def _in_range(self, value: Any) -> bool:
        if self.lo is None or self.kind in (BOOL, CHOICE):
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below


def _rate(key: str, default: float, doc: str, hi: float = 1) -> Setting:
    return Setting(key, NUMBER, default, doc, 0, hi)


_YEARS = dict(lo=1900, hi=2200)
#: The named vesting schedules as (years of vesting service, percent vested from then on); `custom` is the list key.
VESTING_SCHEDULES: Mapping[str, tuple[tuple[int, float], ...]] = MappingProxyType({
    "immediate": ((0, 100.0),),
    "cliff_1": ((1, 100.0),),
    "cliff_2": ((2, 100.0),),
    "cliff_3": ((3, 100.0),),
    "graded_2_to_6": ((2, 20.0), (3, 40.0), (4, 60.0), (5, 80.0), (6, 100.0)),
    "graded_1_to_5": ((1, 20.0), (2, 40.0), (3, 60.0), (4, 80.0), (5, 100.0)),
    "qaca_2_year": ((2, 100.0),),
})
_VESTING_DOC = ("vesting of the {money} account by years of vesting service: immediate (100 % at once); cliff_1, "
                "cliff_2, cliff_3 (0 %, then 100 % after 1, 2, 3 years); graded_2_to_6 (20 % after 2 years, +20 % a "
                "year, 100 % at 6); graded_1_to_5 (20 % a year from 1, 100 % at 5); qaca_2_year (0 %, then 100 % "
                "after 2 years); custom: vesting.{section}.custom")
_CUSTOM_DOC = ("the schedule of vesting.{section}.schedule custom: percent vested = the percent of the last step whose "
               "years <= the person's years of vesting service (0 below the first)")

SCHEMA: tuple[Setting, ...] = (
    Setting("simulation.start_year", INT, 2025, "first simulated year; the census is as of Dec 31 of the year before", **_YEARS),
    Setting("simulation.end_year", INT, 2029, "last simulated year (inclusive); must be >= start_year", **_YEARS),
    Setting("simulation.random_seed", INT, 42, "seed of every random draw; same seed = identical results", 0, 2**31 - 1),
    Setting("simulation.target_growth_rate", NUMBER, 0.03, "net headcount growth per year, share of start headcount", -0.5, 1),
    _rate("workforce.total_termination_rate", 0.12, "experienced leavers per year, share of start headcount"),
    Setting("workforce.new_hire_termination_rate", NUMBER, 0.25,
            "share of the year's hires who leave within the year (hires = needs / (1 - rate); at most 0.99, "
            "since hires dated Dec 31 cannot leave within the year)", 0, 0.99),
    _rate("compensation.merit_budget", 0.025, "July merit raise, share of pay", hi=0.5),
    _rate("compensation.cola_rate", 0.005, "July cost-of-living raise, share of pay (added to merit)", hi=0.5),
    _rate("promotion.base_rate", 0.10, "base yearly promotion probability before age/tenure/level factors"),
    _rate("promotion.level_dampener", 0.15, "probability reduction per level above 1: x max(0, 1 - d x (level - 1))"),
    _rate("promotion.raise_min", 0.15, "smallest promotion pay increase, share of pay; <= raise_max"),
    _rate("promotion.raise_max", 0.25, "largest promotion pay increase, share of pay; >= raise_min"),
    Setting("new_hire.salary_adjustment", NUMBER, 1.15, "new-hire pay as a multiple of the level's average pay", 0.5, 3),
    Setting("eligibility.minimum_age", INT, 0, "age (whole years) a person must reach to enter the plan: nobody "
            "defers or is auto-enrolled before entry", 0, 30),
    Setting("eligibility.service_months", INT, 0, "months of service from the hire date a person must complete to "
            "enter the plan", 0, 12),
    Setting("eligibility.entry_dates", CHOICE, "immediate", "when a person who meets the age and service rules "
            "enters: that day, or the first day of the next month, quarter or half-year (or that day when it is one)",
            choices=("immediate", "monthly", "quarterly", "semi_annual")),
    Setting("enrollment.auto_enrollment.enabled", BOOL, True, "auto-enroll eligible people at the default deferral rate"),
    Setting("enrollment.auto_enrollment.scope", CHOICE, "new_hires_only",
            "who is auto-enrolled: this year's hires only, or every active non-enrolled person",
            choices=("new_hires_only", "all_eligible_employees")),
    Setting("enrollment.auto_enrollment.hire_date_cutoff", DATE, dt.date(2020, 1, 1),
            "only people hired on or after this date are auto-enrolled", dt.date(1900, 1, 1), dt.date(2200, 12, 31)),
    _rate("enrollment.auto_enrollment.default_deferral_rate", 0.06, "deferral rate set by auto-enrollment, share of pay"),
    _rate("enrollment.opt_out_rates.by_age.young", 0.10, "opt-out probability after auto-enrollment, age < 30"),
    _rate("enrollment.opt_out_rates.by_age.mid_career", 0.07, "opt-out probability, age 30-44"),
    _rate("enrollment.opt_out_rates.by_age.mature", 0.05, "opt-out probability, age 45-59"),
    _rate("enrollment.opt_out_rates.by_age.senior", 0.03, "opt-out probability, age 60+"),
    _rate("enrollment.opt_out_rates.by_income.low", 1.2, "opt-out multiplier, pay < 50k", hi=5),
    _rate("enrollment.opt_out_rates.by_income.moderate", 1.0, "opt-out multiplier, pay 50k-100k", hi=5),
    _rate("enrollment.opt_out_rates.by_income.high", 0.7, "opt-out multiplier, pay 100k-200k", hi=5),
    _rate("enrollment.opt_out_rates.by_income.executive", 0.5, "opt-out multiplier, pay >= 200k", hi=5),
    Setting("deferral_auto_escalation.enabled", BOOL, True, "raise enrolled people's deferral rate every Jan 1"),
    Setting("deferral_auto_escalation.increment", NUMBER, 0.01, "yearly deferral increase, share of pay", 0, 1, lo_open=True),
    _rate("deferral_auto_escalation.cap", 0.10, "escalation never takes a deferral rate above this"),
    Setting("match_response.enabled", BOOL, False, "participants respond to the match in the first simulated year: "
            "some deferring below its match-maximizing rate move up to it, some above it move down to it"),
    _rate("match_response.share_moving_up", 0.25, "match_response: share of the participants deferring below the "
          "match-maximizing rate who move up to it"),
    _rate("match_response.share_moving_down", 0.0, "match_response: share of the participants deferring above the "
          "match-maximizing rate who move down to it"),
    Setting("voluntary_enrollment.enabled", BOOL, False, "eligible non-participants enroll on their own each year "
            "(never enrolled, or opted out years_after_opt_out years before); off by default: no published study "
            "gives yearly enrollment chances by age and pay, so the rates below are illustrative"),
    _rate("voluntary_enrollment.rate_by_age.young", 0.10, "voluntary enrollment: yearly probability, age < 30"),
    _rate("voluntary_enrollment.rate_by_age.mid_career", 0.15, "voluntary enrollment: yearly probability, age 30-44"),
    _rate("voluntary_enrollment.rate_by_age.mature", 0.15, "voluntary enrollment: yearly probability, age 45-59"),
    _rate("voluntary_enrollment.rate_by_age.senior", 0.10, "voluntary enrollment: yearly probability, age 60+"),
    _rate("voluntary_enrollment.income_multiplier.low", 0.6, "voluntary enrollment multiplier, pay < 50k", hi=5),
    _rate("voluntary_enrollment.income_multiplier.moderate", 1.0, "voluntary enrollment multiplier, pay 50k-100k",
          hi=5),
    _rate("voluntary_enrollment.income_multiplier.high", 1.3, "voluntary enrollment multiplier, pay 100k-200k", hi=5),
    _rate("voluntary_enrollment.income_multiplier.executive", 1.5, "voluntary enrollment multiplier, pay >= 200k",
          hi=5),
    Setting("voluntary_enrollment.years_after_opt_out", INT, 3, "voluntary enrollment: whole years after an opt-out "
            "before the person may enroll again", 1, 50),
    _rate("voluntary_enrollment.match_magnet", 0.25, "voluntary enrollment: probability an enrollee picks the "
          "match-maximizing rate instead of one from dbt/seeds/config_voluntary_deferral_rates.csv"),
    Setting("payroll.periods_per_year", INT, 26, "pay periods per year (12 monthly, 24 semi-monthly, 26 biweekly, "
            "52 weekly): the periods of the match without true-up", choices=(12, 24, 26, 52)),
    _rate("employer_match.rate", 0.50, "employer match per dollar deferred (0.5 = 50 cents)"),
    _rate("employer_match.max_match_percentage", 0.06, "deferrals matched up to this share of pay"),
    Setting("employer_match.formula", CHOICE, "single_tier",
            "single_tier: rate up to max_match_percentage; tiered: the tiers list; safe_harbor_basic: 100 % of 3 % + "
            "50 % of the next 2 %; safe_harbor_enhanced: 100 % of 4 %; qaca: 100 % of 1 % + 50 % of the next 5 %; "
            "service_tiered: the service_tiers list, by years of service",
            choices=("single_tier", "tiered", "safe_harbor_basic", "safe_harbor_enhanced", "qaca", "service_tiered")),
    Setting("employer_match.tiers", TIERS, (), "the tier list of formula tiered (deferral as a share of pay)"),
    Setting("employer_match.service_tiers", SERVICE_TIERS, (), "the service bands of formula service_tiered"),
    Setting("employer_match.max_match_amount", NUMBER, None, "dollar cap on a person's match in a year", 0, 10**7,
            optional=True),
    Setting("employer_match.minimum_hours", INT, None, "hours worked in the year needed for the match; null: "
            "employer_core_contribution.minimum_hours (none for a safe harbor formula)", 0, 2080, optional=True),
    Setting("employer_match.minimum_service_years", INT, 0, "years of service (Y - hire year) needed for the match",
            0, 50),
    Setting("employer_match.last_day_rule", BOOL, None, "the match only for people employed on Dec 31; null: true, "
            "false for a safe harbor formula", optional=True),
    Setting("employer_match.true_up", BOOL, True, "true: the match is the formula on the year's totals; false: the "
            "sum of the formula on each pay period's pay and deferral (no match for periods after the 402(g) limit)"),
    Setting("employer_core_contribution.enabled", BOOL, True, "pay a non-elective core contribution"),
    _rate("employer_core_contribution.rate", 0.02, "core contribution, share of prorated pay"),
    Setting("employer_core_contribution.minimum_hours", INT, 1000,
            "hours worked in the year needed for match and core (2080 x days employed / days in year)", 0, 2080),
    Setting("employer_core_contribution.minimum_service_years", INT, 0, "years of service (Y - hire year) needed "
            "for the core", 0, 50),
    Setting("employer_core_contribution.last_day_rule", BOOL, True, "the core only for people employed on Dec 31"),
    Setting("employer_core_contribution.formula", CHOICE, "flat",
            "flat: rate x plan pay; service_graded, age_banded, points (age + years of service): the rate of the "
            "highest band of bands reached; integrated: base_rate on plan pay up to the Social Security wage base "
            "plus excess_rate above it", choices=("flat", "service_graded", "age_banded", "points", "integrated")),
    Setting("employer_core_contribution.bands", BANDS, (), "the bands of formula service_graded, age_banded or points"),
    Setting("employer_core_contribution.base_rate", NUMBER, None, "formula integrated: share of plan pay up to the "
            "Social Security taxable wage base", 0, 1, optional=True),
    Setting("employer_core_contribution.excess_rate", NUMBER, None, "formula integrated: share of plan pay above "
            "the wage base; excess_rate - base_rate <= min(base_rate, 0.057) (permitted disparity)", 0, 1,
            optional=True),
    Setting("accounts.annual_return", NUMBER, 0.0, "yearly return credited on each employer-money account's opening "
            "balance", -0.5, 0.5),
    Setting("vesting.match.schedule", CHOICE, "immediate", _VESTING_DOC.format(money="employer match", section="match"),
            choices=(*VESTING_SCHEDULES, "custom")),
    Setting("vesting.match.custom", SCHEDULE, (), _CUSTOM_DOC.format(section="match")),
    Setting("vesting.core.schedule", CHOICE, "immediate", _VESTING_DOC.format(money="core contribution",
                                                                              section="core"),
            choices=(*VESTING_SCHEDULES, "custom")),
    Setting("vesting.core.custom", SCHEDULE, (), _CUSTOM_DOC.format(section="core")),
    Setting("vesting.service", CHOICE, "elapsed", "years of vesting service: elapsed (whole years since hire, by the "
            "tenure rule) or hours (years with at least vesting.hours_per_year hours worked, by the hours rule)",
            choices=("elapsed", "hours")),
    Setting("vesting.hours_per_year", INT, 1000, "vesting.service hours: hours worked in a year (2080 x days "
            "employed / days in year) that make it a year of vesting service", 1, 2080),
    Setting("forfeitures.use", CHOICE, "reduce_employer_contributions", "what a leaver's unvested employer money "
            "pays for: reduce_employer_contributions (the employer's next contributions), pay_plan_expenses, or "
            "reallocate (to the other participants' accounts)",
            choices=("reduce_employer_contributions", "pay_plan_expenses", "reallocate")),
    Setting("nondiscrimination.testing_method", CHOICE, "current_year", "the non-HCE averages the ADP and ACP tests "
            "compare with: current_year (the same year's) or prior_year (the year before's; the first simulated year "
            "uses its own)", choices=("current_year", "prior_year")),
    Setting("quality.avg_compensation_min_change", NUMBER, -0.05, "quality gate avg_compensation (warn): smallest "
            "plausible change of active employees' average pay against the previous year", -1, 0, simulated=False),
    Setting("quality.avg_compensation_max_change", NUMBER, 0.15, "quality gate avg_compensation (warn): largest "
            "plausible change of active employees' average pay against the previous year", 0, 10, simulated=False),
    Setting("backup.keep", INT, 5, "verified backups kept in backups/ beside the database; older ones are deleted "
            "after each new backup", 1, 1000, simulated=False),
    Setting("environment.required", NAMES, (), "environment variables (or .env entries) that must be set before a "
            "run starts; a missing one stops it with exit code 2, nothing touched", simulated=False),
)

SCHEMA_BY_KEY: Mapping[str, Setting] = MappingProxyType({s.key: s for s in SCHEMA})
#: Every dotted section prefix ("enrollment", "enrollment.opt_out_rates", ...): where a mapping is expected.
SECTIONS: frozenset[str] = frozenset(
    ".".join(s.key.split(".")[:i]) for s in SCHEMA for i in range(1, s.key.count(".") + 1)
)
#: Rules between keys, as (smaller, larger): values[smaller] <= values[larger].
CROSS_RULES: tuple[tuple[str, str], ...] = (
    ("simulation.start_year", "simulation.end_year"),
    ("promotion.raise_min", "promotion.raise_max"),
    ("quality.avg_compensation_min_change", "quality.avg_compensation_max_change"),
)
#: A key only some formulas read, its formula key and those formulas: set one without the other and the config is
#: refused (a list left empty, a rate left null, counts as not set).
FORMULA_LISTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("employer_match.tiers", "employer_match.formula", ("tiered",)),
    ("employer_match.service_tiers", "employer_match.formula", ("service_tiered",)),
    ("employer_core_contribution.bands", "employer_core_contribution.formula", ("service_graded", "age_banded", "points")),
    ("employer_core_contribution.base_rate", "employer_core_contribution.formula", ("integrated",)),
    ("employer_core_contribution.excess_rate", "employer_core_contribution.formula", ("integrated",)),
    ("vesting.match.custom", "vesting.match.schedule", ("custom",)),
    ("vesting.core.custom", "vesting.core.schedule", ("custom",)),
)
SAFE_HARBOR_MATCHES = ("safe_harbor_basic", "safe_harbor_enhanced", "qaca")
#: what a safe harbor match may not carry (Treas. Reg. 1.401(k)-3(c)(6), (k)): the key and the value that is no condition
MATCH_CONDITIONS = {"employer_match.minimum_hours": (None, 0), "employer_match.minimum_service_years": (0,),
                    "employer_match.last_day_rule": (None, False)}
#: the vesting schedules a safe harbor match may have: 100 % vested when made (IRC 401(k)(12)(E)(i), Treas. Reg.
#: 1.401(k)-3(c)(1), qualified matching contributions); a QACA's after at most 2 years (IRC 401(k)(13)(D)(iii))
SAFE_HARBOR_VESTING = {"safe_harbor_basic": ("immediate",), "safe_harbor_enhanced": ("immediate",),
                       "qaca": ("immediate", "qaca_2_year")}
#: the slowest legal schedules (IRC 411(a)(2)(B)): 100 % at 3 years (cliff) or at least these percents (graded)
LEGAL_CLIFF_YEARS = 3
LEGAL_GRADED = MappingProxyType({2: 20.0, 3: 40.0, 4: 60.0, 5: 80.0, 6: 100.0})
PERMITTED_DISPARITY = Decimal("0.057")  # IRC 401(l)(5)(A)(ii) with the integration level at the wage base
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class SimulationConfig:
    """A complete, validated configuration. Built only through validation (even when constructed directly),
    so holding one means every value is known good. `values` maps each dotted key, in schema order, to its
    Python value (dates as `datetime.date`); missing keys given to the constructor take the schema default."""

    values: Mapping[str, Any] = field(default_factory=dict)
    source: str = field(default="<defaults>", compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        flat = _known_dotted(self.values, problems, tag="")
        values = _apply(_DEFAULTS, [("", flat)], problems)
        if problems:
            raise ConfigError(problems, self.source)
        object.__setattr__(self, "values", MappingProxyType(values))

    def __hash__(self) -> int:
        return hash(self.digest())

    def get(self, dotted: str) -> Any:
        """Value of one dotted key; an unknown key is a KeyError with a suggestion (never a silent None)."""
        if dotted not in self.values:
            raise KeyError(_unknown_key_problem(dotted))
        return self.values[dotted]

    @property
    def start_year(self) -> int:
        return self.values["simulation.start_year"]

    @property
    def end_year(self) -> int:
        return self.values["simulation.end_year"]

    @property
    def seed(self) -> int:
        return self.values["simulation.random_seed"]

    @property
    def years(self) -> range:
        """The simulated years, in order (end year included)."""
        return range(self.start_year, self.end_year + 1)

    def with_overrides(self, overrides: Mapping[str, Any]) -> SimulationConfig:
        """A new config with dotted-key overrides applied, validated exactly like file values."""
        problems: list[str] = []
        flat = _known_dotted(overrides, problems, tag=" (override)")
        values = _apply(self.values, [(" (override)", flat)], problems)
        if problems:
            raise ConfigError(problems, self.source)
        return SimulationConfig(values, self.source)

    def simulated_values(self) -> dict[str, Any]:
        """{dotted key: JSON-able value} of the keys that can change a result (not backup.keep, environment...)."""
        return {k: SCHEMA_BY_KEY[k].jsonable(v) for k, v in self.values.items() if SCHEMA_BY_KEY[k].simulated}

    def dbt_vars(self) -> dict[str, Any]:
        """Flat JSON-able dict for `dbt --vars` of the simulated keys: names are `Setting.dbt_var`, dates
        'YYYY-MM-DD' strings."""
        return {SCHEMA_BY_KEY[k].dbt_var: v for k, v in self.simulated_values().items()}

    def digest(self, without: Iterable[str] = ()) -> str:
        """sha256 of the canonical JSON of the simulated values: identifies a configuration (what a run computes)
        across runs and key order; orchestrator keys (backup.keep, environment.required) are left out, and so are
        `without` (an ensemble scenario's digest leaves out the seed, which varies run by run)."""
        left_out = set(without)
        values = {k: v for k, v in self.simulated_values().items() if k not in left_out}
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Nested dict shaped like the YAML file (dates stay `datetime.date`)."""
        nested: dict[str, Any] = {}
        for key, value in self.values.items():
            *parents, leaf = key.split(".")
            node = nested
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = SCHEMA_BY_KEY[key].jsonable(value) if isinstance(value, tuple) else value
        return nested


def load_config(path: Path | str | None = None, overrides: Mapping[str, Any] | None = None) -> SimulationConfig:
    """Read, validate and return the configuration; `path=None` reads `paths.DEFAULT_CONFIG`.

    Keys missing from the file take the schema default (an empty file is all defaults). `overrides` uses dotted
    keys and is validated like file values. Raises ConfigError listing every problem found, file and overrides.
    """
    path = Path(paths.DEFAULT_CONFIG if path is None else path)
    raw, duplicates = read_yaml(path)
    return _build(raw, overrides, str(path), duplicates)


def overlay_file(base: SimulationConfig, path: Path | str, refused: Mapping[str, str] | None = None) -> SimulationConfig:
    """`base` with a YAML file of overrides applied (the config file's shape, any subset of its keys), validated
    exactly like a config file, every problem named with the file and key. `refused` maps keys the file may not
    set to the reason (a scenario's seed and years come from the command line)."""
    path = Path(path)
    raw, problems = read_yaml(path)
    file_values = _known_nested(raw, problems)
    problems += [f"{key}: {why}" for key, why in (refused or {}).items() if key in file_values]
    values = _apply(base.values, [("", file_values)], problems)
    if problems:
        raise ConfigError(problems, str(path))
    return SimulationConfig(values, str(path))


def read_yaml(path: Path) -> tuple[Any, list[str]]:
    """The file's YAML data and its duplicate-key problems; an unreadable file is a ConfigError naming it."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["file not found; pass the path of an existing config file"], source) from None
    except IsADirectoryError:
        raise ConfigError(["is a directory, not a config file"], source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text ({exc.reason} at byte {exc.start})"], source) from None
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror or exc}"], source) from None
    return _parse_yaml(text, source)


def from_mapping(
    data: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None, source: str = "<mapping>"
) -> SimulationConfig:
    """Validate an already-parsed nested mapping (the YAML file's shape); `load_config` without the file."""
    return _build(data, overrides, source, [])


def _build(data: Any, overrides: Mapping[str, Any] | None, source: str, problems: list[str]) -> SimulationConfig:
    file_values = _known_nested(data, problems)
    override_values = _known_dotted(overrides or {}, problems, tag=" (override)")
    values = _apply(_DEFAULTS, [("", file_values), (" (override)", override_values)], problems)
    if problems:
        raise ConfigError(problems, source)
    return SimulationConfig(values, source)


# ---------------------------------------------------------------------------------------------------------------
# Validation internals: structure first (unknown keys, sections), then each value, then the cross-key rules.


def _known_nested(data: Any, problems: list[str]) -> dict[str, Any]:
    """Flatten the file's nested mapping to {dotted key: raw value}, reporting structural problems."""
    out: dict[str, Any] = {}
    if data is None:
        return out
    if not isinstance(data, Mapping):
        problems.append(f"(top level): expected a mapping of sections ({_children('')}), got {describe(data)}")
        return out

    def walk(node: Mapping[Any, Any], prefix: str) -> None:
        for name, value in node.items():
            if not isinstance(name, str):
                problems.append(_unknown_key_problem(_join(prefix, repr(name))))
                continue
            dotted = _join(prefix, name)
            if "." in name:
                problems.append(f"{dotted}: keys must not contain '.'; write it as nested sections")
            elif dotted in SCHEMA_BY_KEY:
                out[dotted] = value
            elif dotted in SECTIONS:
                if isinstance(value, Mapping):
                    walk(value, dotted)
                elif value is not None:  # an empty section (all keys commented out) means all defaults
                    problems.append(f"{dotted}: expected a section with keys {_children(dotted)}, got {describe(value)}")
            else:
                problems.append(_unknown_key_problem(dotted))

    walk(data, "")
    return out


def _known_dotted(data: Mapping[Any, Any], problems: list[str], tag: str) -> dict[str, Any]:
    """Keep the known dotted keys of a flat mapping (overrides, constructor input); report the others."""
    if not isinstance(data, Mapping):
        problems.append(f"(overrides){tag}: expected a mapping of dotted keys to values, got {describe(data)}")
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and key in SCHEMA_BY_KEY:
            out[key] = value
        elif isinstance(key, str) and key in SECTIONS:
            problems.append(f"{key}{tag}: is a section; set its keys one by one ({_children(key)})")
        else:
            problems.append(_unknown_key_problem(key if isinstance(key, str) else repr(key), tag))
    return out


def _apply(base: Mapping[str, Any], layers: Iterable[tuple[str, Mapping[str, Any]]], problems: list[str]) -> dict[str, Any]:
    """Check each raw value of each layer over `base` (later layers win), then the cross-key rules."""
    values = dict(base)
    bad: set[str] = set()
    for tag, layer in layers:
        for key, raw in layer.items():
            value, problem = SCHEMA_BY_KEY[key].check(raw)
            if problem:
                problems.append(f"{key}{tag}: {problem}")
                bad.add(key)
            else:
                values[key] = value
    for small, large in CROSS_RULES:
        if not {small, large} & bad and values[small] > values[large]:
            problems.append(
                f"{small}: must be <= {large} ({_fmt(values[large])}), got {_fmt(values[small])}; "
                f"lower {small} or raise {large}"
            )
    for listed, formula_key, formulas in FORMULA_LISTS:
        if {listed, formula_key} & bad:
            continue
        unset = values[listed] in (None, ())
        if values[formula_key] in formulas and unset:
            problems.append(f"{listed}: {formula_key} {values[formula_key]} needs it; set it to "
                            f"{SCHEMA_BY_KEY[listed].allowed.removesuffix(', or null for none')}")
        elif values[formula_key] not in formulas and not unset:
            problems.append(f"{listed}: is read only by {formula_key} {' or '.join(formulas)} (it is "
                            f"{values[formula_key]}); remove it or set {formula_key}: {formulas[0]}")
    problems += _disparity_problems(values, bad)
    problems += _safe_harbor_vesting_problems(values, bad)
    if values["employer_match.formula"] in SAFE_HARBOR_MATCHES and "employer_match.formula" not in bad:
        problems += [f"{key}: a safe harbor match ({values['employer_match.formula']}) cannot carry an hours, service "
                     f"or last-day condition; remove {key}" for key, free in MATCH_CONDITIONS.items()
                     if key not in bad and values[key] not in free]
    return {s.key: values[s.key] for s in SCHEMA}


def _disparity_problems(values: Mapping[str, Any], bad: set[str]) -> list[str]:
    """An integrated core within the permitted disparity: excess_rate - base_rate <= min(base_rate, 5.7 points)."""
    base, excess = values["employer_core_contribution.base_rate"], values["employer_core_contribution.excess_rate"]
    if base is None or excess is None or {"employer_core_contribution.base_rate",
                                          "employer_core_contribution.excess_rate"} & bad:
        return []
    allowed = min(Decimal(str(base)), PERMITTED_DISPARITY)
    if Decimal(str(excess)) - Decimal(str(base)) <= allowed:
        return []
    return [f"employer_core_contribution.excess_rate: exceeds the permitted disparity (IRC 401(l)): excess_rate - "
            f"base_rate must be at most min(base_rate, 0.057) = {allowed}, got {_fmt(excess)} - {_fmt(base)}; "
            f"lower excess_rate to at most {Decimal(str(base)) + allowed} or raise base_rate"]


def _safe_harbor_vesting_problems(values: Mapping[str, Any], bad: set[str]) -> list[str]:
    """A safe harbor match is 100 % vested when made; a QACA match may wait 2 years (qaca_2_year), no longer."""
    formula, schedule = values["employer_match.formula"], values["vesting.match.schedule"]
    if {"employer_match.formula", "vesting.match.schedule"} & bad or schedule in SAFE_HARBOR_VESTING.get(formula,
                                                                                                        (schedule,)):
        return []
    if formula == "qaca":
        return [f"vesting.match.schedule: a QACA match (qaca) vests immediately or by qaca_2_year (100 % after 2 "
                f"years of vesting service, IRC 401(k)(13)(D)(iii)), got {schedule}; set vesting.match.schedule: "
                f"qaca_2_year or immediate"]
    return [f"vesting.match.schedule: a safe harbor match ({formula}) is 100 % vested when made (IRC 401(k)(12)(E)(i), "
            f"Treas. Reg. 1.401(k)-3(c)(1)), got {schedule}; set vesting.match.schedule: immediate"]


def vested_percent(steps: Iterable[tuple[int, float]], years: int) -> float:
    """Percent vested after `years` of vesting service: that of the last step whose years <= `years`, 0 before."""
    return max((percent for at, percent in steps if at <= years), default=0.0)


def _unknown_key_problem(dotted: str, tag: str = "") -> str:
    guess = _suggest(dotted)
    hint = f"did you mean '{guess}'?" if guess else f"remove it (known keys here: {_children(dotted.rpartition('.')[0])})"
    return f"{dotted}{tag}: unknown key; {hint}"


def _suggest(dotted: str) -> str | None:
    """Closest known key: a sibling spelled alike, the same name in another section, or a close full path."""
    parent, _, name = dotted.rpartition(".")
    siblings = _child_names(parent)
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.6)
    close = close or [c for c in siblings if name in c.split("_")][:1]  # "seed" -> "random_seed"
    if close:
        return _join(parent, close[0])
    elsewhere = sorted(p for p in (*SCHEMA_BY_KEY, *SECTIONS) if p.rpartition(".")[2] == name)
    if elsewhere:
        return elsewhere[0]
    same_depth = [p for p in (*SCHEMA_BY_KEY, *sorted(SECTIONS)) if p.count(".") == dotted.count(".")]
    close = difflib.get_close_matches(dotted, same_depth, n=1, cutoff=0.85)  # "compensaton.merit_budget"
    return close[0] if close else None


def _child_names(parent: str) -> list[str]:
    prefix = parent + "." if parent else ""
    names: list[str] = []
    for path in (*SCHEMA_BY_KEY, *sorted(SECTIONS)):
        if path.startswith(prefix) and "." not in path[len(prefix):]:
            names.append(path[len(prefix):])
    return list(dict.fromkeys(names))


def _children(parent: str) -> str:
    names = _child_names(parent) or _child_names("")
    return ", ".join(names)


# ---------------------------------------------------------------------------------------------------------------
# YAML: plain PyYAML silently keeps the last of two equal keys, so the node tree is checked for duplicates first.


def _duplicate_keys(node: yaml.Node | None, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            dotted = _join(prefix, name)
            if name in seen:
                found.append(f"{dotted}: duplicate key at line {key_node.start_mark.line + 1}; keep only one of them")
            seen.add(name)
            found += _duplicate_keys(value_node, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += _duplicate_keys(item, prefix)
    return found


def _parse_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    """(data, duplicate-key problems); invalid YAML is fatal at once since nothing else can be checked."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), _duplicate_keys(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = ": ".join(str(x) for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x)
        raise ConfigError([f"invalid YAML{where}: {' '.join((what or str(exc)).split())}"], source) from None
    finally:
        loader.dispose()


# ---------------------------------------------------------------------------------------------------------------
# Small helpers shared by messages, docs, dbt vars and the digest.


def _as_date(raw: Any) -> dt.date | None:
    if isinstance(raw, dt.datetime):  # a timestamp is not a date: refuse rather than drop the time
        return None
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str) and _DATE_RE.fullmatch(raw):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _check_names(raw: Any, allowed: str) -> tuple[Any, str | None]:
    """A list of distinct environment variable names, kept as a tuple (the config is immutable)."""
    if not isinstance(raw, (list, tuple)):
        return None, f"expected {allowed}, got {describe(raw)}"
    for position, name in enumerate(raw):
        if not (isinstance(name, str) and _ENV_NAME.fullmatch(name)):
            return None, f"expected {allowed}, got {describe(name)} at position {position + 1}"
        if name in raw[:position]:
            return None, f"expected {allowed}, got {name} twice"
    return tuple(raw), None


def _check_tier_kind(kind: str, raw: Any, allowed: str) -> tuple[Any, str | None]:
    """A tier list, or a list of service bands each with one, kept as nested tuples (the config is immutable)."""
    if kind == TIERS:
        return _check_tiers(raw, allowed)
    bands, previous = [], None
    for position, band in enumerate(raw, 1):
        if not (isinstance(band, Mapping) and set(band) == {"min_years", "tiers"}):
            return None, f"band {position}: expected {{min_years, tiers}}, got {describe(band)}; {allowed}"
        years, (tiers, problem) = band["min_years"], _check_tiers(band["tiers"], allowed)
        if not (isinstance(years, int) and not isinstance(years, bool) and 0 <= years <= 100):
            return None, f"band {position}: min_years must be whole years in 0..100, got {describe(years)}"
        if (previous is None and years != 0) or (previous is not None and years <= previous):
            return None, (f"band {position}: min_years must start at 0 and rise strictly, got {years}"
                          + (f" after {previous}" if previous is not None else ""))
        if problem or not tiers:
            return None, f"band {position} (min_years {years}): {problem or 'its tier list is empty'}"
        bands.append((years, tiers))
        previous = years
    return tuple(bands), None


def _check_tiers(raw: Any, allowed: str) -> tuple[Any, str | None]:
    if not isinstance(raw, list):
        return None, f"expected {allowed}, got {describe(raw)}"
    tiers, previous = [], 0.0
    for position, tier in enumerate(raw, 1):
        if not (isinstance(tier, Mapping) and set(tier) == {"rate", "up_to"}):
            return None, f"tier {position}: expected {{rate, up_to}}, got {describe(tier)}; {allowed}"
        rate, up_to = tier["rate"], tier["up_to"]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (rate, up_to)):
            return None, f"tier {position}: rate and up_to must be numbers, got {describe(rate)} and {describe(up_to)}"
        if not 0 <= rate <= 1:
            return None, f"tier {position}: rate must be in 0..1 (a share of the deferral matched), got {_fmt(rate)}"
        if not previous < up_to <= 1:
            return None, (f"tier {position}: up_to must be above the previous tier's ({_fmt(previous)}) and at most 1, "
                          f"got {_fmt(up_to)}; tiers are cumulative shares of pay, strictly increasing")
        tiers.append((float(rate) + 0.0, float(up_to) + 0.0))
        previous = up_to
    return tuple(tiers), None


def _check_bands(raw: Any, allowed: str) -> tuple[Any, str | None]:
    """Core bands {min, rate}: whole-number minimums rising from 0, rates in 0..1; kept as a tuple of pairs."""
    bands: list[tuple[int, float]] = []
    for position, band in enumerate(raw, 1):
        if not (isinstance(band, Mapping) and set(band) == {"min", "rate"}):
            return None, f"band {position}: expected {{min, rate}}, got {describe(band)}; {allowed}"
        low, rate = band["min"], band["rate"]
        if not (isinstance(low, int) and not isinstance(low, bool) and 0 <= low <= 200):
            return None, f"band {position}: min must be a whole number in 0..200, got {describe(low)}"
        if (not bands and low != 0) or (bands and low <= bands[-1][0]):
            return None, (f"band {position}: min must start at 0 and rise strictly, got {low}"
                          + (f" after {bands[-1][0]}" if bands else ""))
        if not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 <= rate <= 1):
            return None, f"band {position}: rate must be a number in 0..1 (a share of plan pay), got {describe(rate)}"
        bands.append((low, float(rate) + 0.0))
    return tuple(bands), None


def _check_schedule(raw: Any, allowed: str) -> tuple[Any, str | None]:
    """A custom vesting schedule {years, percent}: years rising strictly, percents never falling, at least as fast
    as the law's slowest schedules; kept as a tuple of (years, percent as float) pairs."""
    steps: list[tuple[int, float]] = []
    for position, step in enumerate(raw, 1):
        if not (isinstance(step, Mapping) and set(step) == {"years", "percent"}):
            return None, f"step {position}: expected {{years, percent}}, got {describe(step)}; {allowed}"
        years, percent = step["years"], step["percent"]
        if not (isinstance(years, int) and not isinstance(years, bool) and 0 <= years <= 50):
            return None, f"step {position}: years must be whole years of vesting service in 0..50, got {describe(years)}"
        if steps and years <= steps[-1][0]:
            return None, f"step {position}: years must rise strictly, got {years} after {steps[-1][0]}"
        if not (isinstance(percent, (int, float)) and not isinstance(percent, bool) and 0 <= percent <= 100):
            return None, f"step {position}: percent must be a number in 0..100, got {describe(percent)}"
        if steps and percent < steps[-1][1]:
            return None, f"step {position}: percent must not fall, got {_fmt(percent)} after {steps[-1][1]:g}"
        steps.append((years, float(percent) + 0.0))
    return tuple(steps), (_legal_speed_problem(steps) if steps else None)


def _legal_speed_problem(steps: list[tuple[int, float]]) -> str | None:
    """IRC 411(a)(2)(B): 100 % after 3 years of vesting service, or at least 20/40/60/80/100 % after 2..6 years."""
    cliff = vested_percent(steps, LEGAL_CLIFF_YEARS) >= 100
    short = [(years, vested_percent(steps, years)) for years, least in LEGAL_GRADED.items()
             if vested_percent(steps, years) < least]
    if cliff or not short:
        return None
    years, percent = short[0]
    return (f"slower than the law allows (IRC 411(a)(2)(B)): a schedule must vest 100 % by 3 years of vesting service "
            f"(3-year cliff) or at least 20 % at 2, 40 % at 3, 60 % at 4, 80 % at 5 and 100 % at 6 years (2-to-6-year "
            f"graded), and this one vests {percent:g} % at {years} years; raise its percents or use cliff_3 or "
            f"graded_2_to_6")


def _tiers_json(tiers: tuple[tuple[float, float], ...]) -> list[dict[str, float]]:
    return [{"rate": rate, "up_to": up_to} for rate, up_to in tiers]


_TIER_JSON = {
    BANDS: lambda bands: [{"min": low, "rate": rate} for low, rate in bands],
    SCHEDULE: lambda steps: [{"years": years, "percent": percent} for years, percent in steps],
    TIERS: _tiers_json,
    SERVICE_TIERS: lambda bands: [{"min_years": years, "tiers": _tiers_json(tiers)} for years, tiers in bands],
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value.isoformat() if isinstance(value, dt.date) else value


def _fmt(value: Any) -> str:
    """A value as the user would write it in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value) + "]"
    return str(value) if isinstance(value, str) else repr(value)


def describe(raw: Any) -> str:
    """A wrong value as an error message names it: its text and type, or what null means."""
    if raw is None:
        return "null (remove the key to use the default)"
    if isinstance(raw, bool):
        return f"{_fmt(raw)} (a boolean)"
    if isinstance(raw, dt.datetime):
        return f"{raw.isoformat(' ')} (a timestamp)"
    if isinstance(raw, Mapping):
        return "a mapping"
    if isinstance(raw, (list, tuple, set)):
        return "a list"
    if isinstance(raw, str):
        text = repr(raw)
        return text if len(text) <= 60 else text[:57] + "...'"
    return _fmt(raw)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _schema_defaults() -> Mapping[str, Any]:
    """Normalised defaults; a default outside its own range is a programming error, caught at import."""
    checked = {s.key: s.check(s.default) for s in SCHEMA}
    broken = [f"{key}: default {problem}" for key, (_, problem) in checked.items() if problem]
    if broken:
        raise AssertionError("; ".join(broken))
    return MappingProxyType({key: value for key, (value, _) in checked.items()})


_DEFAULTS = _schema_defaults()


def schema_markdown() -> str:
    """The settings as a markdown table (key, type, default, allowed values, dbt var, meaning) for the docs."""
    rows = ["| key | default | allowed | dbt var | meaning |", "|---|---|---|---|---|"]
    for s in SCHEMA:
        dbt_var = f"`{s.dbt_var}`" if s.simulated else "(orchestrator only)"
        rows.append(f"| `{s.key}` | `{_fmt(s.default)}` | {s.allowed} | {dbt_var} | {s.doc} |")
    rows += ["", "Cross-key rules: " + "; ".join(f"`{a}` <= `{b}`" for a, b in CROSS_RULES) + "."]
    return "\n".join(rows) + "\n"


def render_yaml(config: SimulationConfig | None = None) -> str:
    """The config as commented YAML (the shape of config/simulation_config.yaml); defaults when None."""
    values = (config or SimulationConfig()).values
    lines = [
        "# PlanWise Navigator simulation configuration. Keys, defaults and allowed ranges come from",
        "# navigator_orchestrator.inputs.config.SCHEMA (python -c 'from navigator_orchestrator.inputs.config import render_yaml;",
        "# print(render_yaml())' prints this file with defaults). Every key is optional: a missing key takes its",
        "# default; an unknown key is an error. Rates are fractions: 0.03 means 3 %.",
        "# Rules across keys: " + "; ".join(f"{a} <= {b}" for a, b in CROSS_RULES) + ".",
    ]
    opened: list[str] = []
    for s in SCHEMA:
        *parents, leaf = s.key.split(".")
        common = 0
        while common < min(len(parents), len(opened)) and parents[common] == opened[common]:
            common += 1
        if common == 0 and parents:
            lines.append("")
        for depth in range(common, len(parents)):
            lines.append("  " * depth + parents[depth] + ":")
        opened = parents
        indent = "  " * len(parents)
        value = values[s.key]
        written = (yaml.safe_dump(s.jsonable(value), default_flow_style=True, width=10**6).strip()
                   if s.kind in _TIER_JSON else _fmt(value))
        lines += [f"{indent}# {s.doc}. Allowed: {s.allowed}.", f"{indent}{leaf}: {written}"]
    return "\n".join(lines) + "\n"

