"""Every configuration value the engine reads changes the output (simulation.md invariant 11).

For each key of navigator_orchestrator.inputs.config.SCHEMA, one run with only that value changed (to a value that must
matter) is compared with its baseline by marts digest. A few keys only touch a small population under the default
config (people aged 60+, pay >= 200k or < 50k); for those the baseline and the changed run share a context that
puts people in that population (auto-enrollment of everyone eligible, or lower new-hire pay), and still differ in
that one key only. simulation.start_year / end_year shift the calendar and are checked on their own.

The other half of invariant 11, "an unknown key is an error", is covered end to end (exit 2, nothing written) by
tests/test_cli_inputs.py::test_bad_config_or_arguments_exit_2_and_write_nothing[unknown-key]; a quick
stand-alone check is repeated here.

All runs: 1,000-person census, one year (2025) unless a case needs more (a few seconds each).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from navigator_orchestrator.inputs.config import FORMULA_LISTS, SCHEMA, SCHEMA_BY_KEY
from navigator_orchestrator.safety.digest import marts_digest

pytestmark = pytest.mark.slow

EMPLOYEES = 1000
YEARS = "2025-2025"
CALENDAR_KEYS = {"simulation.start_year", "simulation.end_year"}
# keys the engine reads: all but the orchestrator's own (Setting.simulated=False: backups, required env vars)
ENGINE_KEYS = {s.key for s in SCHEMA if getattr(s, "simulated", True)}

# contexts shared by a baseline and its changed run
ALL_ELIGIBLE = {"enrollment.auto_enrollment.scope": "all_eligible_employees",
                "enrollment.auto_enrollment.hire_date_cutoff": "1900-01-01"}  # census people 60+ / 200k+ enrolled too
LOW_PAY_HIRES = {"new_hire.salary_adjustment": 0.5}  # level 1-2 hires paid < 50k: the 'low' income segment exists

OPT_OUT = "enrollment.opt_out_rates"
VOLUNTARY = "voluntary_enrollment"
JOINING = {"voluntary_enrollment.enabled": True,
           "enrollment.auto_enrollment.enabled": False}  # the year's hires are not auto-enrolled: they may join
RETURNING = {"voluntary_enrollment.enabled": True,  # everyone free to join does: the first year's opt-outs too
             **{f"{VOLUNTARY}.rate_by_age.{age}": 1.0 for age in ("young", "mid_career", "mature", "senior")},
             **{f"{VOLUNTARY}.income_multiplier.{pay}": 1.0 for pay in ("low", "moderate", "high", "executive")}}
BASIC_TIERS = [{"rate": 1.0, "up_to": 0.03}, {"rate": 0.5, "up_to": 0.05}]
RICH_TIERS = [{"rate": 1.0, "up_to": 0.06}]
CORE_FORMULA = "employer_core_contribution.formula"
CORE_BANDS = [{"min": 0, "rate": 0.02}, {"min": 40, "rate": 0.04}]
INTEGRATED = {"employer_core_contribution.formula": "integrated", "employer_core_contribution.base_rate": 0.03,
              "employer_core_contribution.excess_rate": 0.05}
CASES: list[tuple[str, object, dict]] = [
    ("simulation.random_seed", 43, {}),
    ("simulation.target_growth_rate", 0.10, {}),
    ("workforce.total_termination_rate", 0.20, {}),
    ("workforce.new_hire_termination_rate", 0.40, {}),
    ("compensation.merit_budget", 0.04, {}),
    ("compensation.cola_rate", 0.02, {}),
    ("promotion.base_rate", 0.20, {}),
    ("promotion.level_dampener", 0.50, {}),
    ("promotion.raise_min", 0.10, {}),
    ("promotion.raise_max", 0.35, {}),
    ("new_hire.salary_adjustment", 1.0, {}),
    ("eligibility.minimum_age", 30, {}),  # hires aged 22-29 are no longer auto-enrolled in their hire year
    ("eligibility.service_months", 6, {}),  # hires enter (and are auto-enrolled) six months later
    ("eligibility.entry_dates", "quarterly", {}),
    ("enrollment.auto_enrollment.enabled", False, {}),
    ("enrollment.auto_enrollment.scope", "all_eligible_employees", {}),
    ("enrollment.auto_enrollment.hire_date_cutoff", "2026-06-01", {}),  # 2025 hires no longer auto-enrolled
    ("enrollment.auto_enrollment.default_deferral_rate", 0.04, {}),
    (f"{OPT_OUT}.by_age.young", 0.50, {}),
    (f"{OPT_OUT}.by_age.mid_career", 0.50, {}),
    (f"{OPT_OUT}.by_age.mature", 0.50, {}),
    (f"{OPT_OUT}.by_age.senior", 1.0, ALL_ELIGIBLE),  # new hires are 22..55: only census people reach 60+
    (f"{OPT_OUT}.by_income.low", 5.0, LOW_PAY_HIRES),  # nobody earns < 50k with the default new-hire pay
    (f"{OPT_OUT}.by_income.moderate", 5.0, {}),
    (f"{OPT_OUT}.by_income.high", 5.0, {}),
    (f"{OPT_OUT}.by_income.executive", 5.0, ALL_ELIGIBLE),  # few level-5 hires a year by default
    ("deferral_auto_escalation.enabled", False, {}),
    ("deferral_auto_escalation.increment", 0.02, {}),
    ("deferral_auto_escalation.cap", 0.15, {}),
    ("employer_match.rate", 0.25, {}),
    ("employer_match.max_match_percentage", 0.03, {}),
    ("employer_match.formula", "safe_harbor_basic", {}),
    # a formula's list is set only with its formula, so its baseline is the formula with another list
    ("employer_match.tiers", [{"rate": 1.0, "up_to": 0.04}], {"employer_match.formula": "tiered",
                                                              "employer_match.tiers": BASIC_TIERS}),
    ("employer_match.service_tiers", [{"min_years": 0, "tiers": BASIC_TIERS}, {"min_years": 5, "tiers": RICH_TIERS}],
     {"employer_match.formula": "service_tiered", "employer_match.service_tiers": [{"min_years": 0,
                                                                                     "tiers": BASIC_TIERS}]}),
    ("employer_match.max_match_amount", 1000, {}),
    ("employer_match.minimum_hours", 2000, {}),  # part-year people lose the match (the core's 1,000 by default)
    ("employer_match.minimum_service_years", 3, {}),
    ("employer_match.last_day_rule", False, {}),  # leavers keep the match on what they deferred
    ("employer_match.true_up", False, {}),  # hires enrolled 30 days in lose the match of their first periods
    ("payroll.periods_per_year", 12, {"employer_match.true_up": False}),  # periods the 402(g) limit cuts differ
    ("employer_core_contribution.minimum_service_years", 3, {}),
    ("employer_core_contribution.last_day_rule", False, {}),
    # a core formula reads its own keys, so its baseline is another formula reading the same ones
    ("employer_core_contribution.formula", "service_graded", {"employer_core_contribution.formula": "age_banded",
                                                               "employer_core_contribution.bands": CORE_BANDS}),
    ("employer_core_contribution.bands", [{"min": 0, "rate": 0.02}, {"min": 5, "rate": 0.05}],
     {"employer_core_contribution.formula": "service_graded", "employer_core_contribution.bands": CORE_BANDS}),
    ("employer_core_contribution.base_rate", 0.04, INTEGRATED),
    ("employer_core_contribution.excess_rate", 0.06, INTEGRATED),
    ("employer_core_contribution.enabled", False, {}),
    ("employer_core_contribution.rate", 0.03, {}),
    ("employer_core_contribution.minimum_hours", 2000, {}),
    ("accounts.annual_return", 0.05, {}),  # the census's opening balances earn 5 %
    ("vesting.match.schedule", "cliff_3", {}),  # leavers of fewer than 3 years forfeit their match
    ("vesting.core.schedule", "graded_2_to_6", {}),
    ("vesting.match.custom", [{"years": 1, "percent": 50}, {"years": 2, "percent": 100}],
     {"vesting.match.schedule": "custom", "vesting.match.custom": [{"years": 3, "percent": 100}]}),
    ("vesting.core.custom", [{"years": 1, "percent": 50}, {"years": 2, "percent": 100}],
     {"vesting.core.schedule": "custom", "vesting.core.custom": [{"years": 3, "percent": 100}]}),
    ("vesting.service", "hours", {}),  # a hire's own year counts when it reaches 1,000 hours
    ("vesting.hours_per_year", 2000, {"vesting.service": "hours"}),
    # forfeitures are used the year after they arise: a two-year run (LONGER)
    ("forfeitures.use", "pay_plan_expenses", {"vesting.core.schedule": "graded_2_to_6"}),
    ("match_response.enabled", True, {}),  # a quarter of those below 6 % move up to it
    ("match_response.share_moving_up", 0.75, {"match_response.enabled": True}),
    ("match_response.share_moving_down", 0.5, {"match_response.enabled": True}),  # census rates above 6 % exist
    ("voluntary_enrollment.enabled", True, {}),
    (f"{VOLUNTARY}.rate_by_age.young", 0.9, JOINING),
    (f"{VOLUNTARY}.rate_by_age.mid_career", 0.9, JOINING),
    (f"{VOLUNTARY}.rate_by_age.mature", 0.9, JOINING),
    (f"{VOLUNTARY}.rate_by_age.senior", 0.9, JOINING),
    (f"{VOLUNTARY}.income_multiplier.low", 5.0, {**JOINING, **LOW_PAY_HIRES}),
    (f"{VOLUNTARY}.income_multiplier.moderate", 4.0, JOINING),
    (f"{VOLUNTARY}.income_multiplier.high", 4.0, JOINING),
    (f"{VOLUNTARY}.income_multiplier.executive", 4.0, JOINING),
    (f"{VOLUNTARY}.match_magnet", 1.0, JOINING),
    # people who opt out in the first year may come back in the second: a two-year run (LONGER)
    (f"{VOLUNTARY}.years_after_opt_out", 1, RETURNING),
    # the second year's tests compare with the first year's non-HCE averages: a two-year run (LONGER)
    ("nondiscrimination.testing_method", "prior_year", {}),
]
LONGER = {"forfeitures.use": "2025-2026", "nondiscrimination.testing_method": "2025-2026",
          f"{VOLUNTARY}.years_after_opt_out": "2025-2026"}


def build(planwise_run, key: str | None = None, value: object = None, context: dict | None = None, **kwargs):
    overrides = dict(context or {})
    seed = 42
    if key == "simulation.random_seed":
        seed = value  # the run's --seed wins over the config file, so the seed goes through --seed
    elif key is not None:
        overrides[key] = value
    run = planwise_run(employees=EMPLOYEES, years=kwargs.pop("years", YEARS), seed=seed, overrides=overrides,
                       **kwargs)
    assert run.status == "success", (key, value, run.errors, run.stderr)
    return run


def digest(run, year: int | None = None) -> dict:
    with run.connect() as con:
        return marts_digest(con, year)


def test_every_engine_key_has_a_case_with_a_new_value():
    keys = [key for key, _, _ in CASES]
    assert len(keys) == len(set(keys))
    assert set(keys) | CALENDAR_KEYS == ENGINE_KEYS, "an engine key of SCHEMA without a config-effect case"
    for key, value, context in CASES:
        setting = SCHEMA_BY_KEY[key]
        checked, problem = setting.check(value)
        assert problem is None, (key, problem)
        assert checked != setting.check(context.get(key, setting.default))[0], f"{key}: {value!r} is not a change"
        # a formula's own key (or a core formula) has the other value in its context, the same key read alike
        assert key not in context or key in {listed for listed, _, _ in FORMULA_LISTS} | {CORE_FORMULA}, key


@pytest.mark.parametrize(("key", "value", "context"), CASES, ids=[key for key, _, _ in CASES])
def test_changing_one_value_changes_the_marts(planwise_run, key, value, context):
    years = LONGER.get(key, YEARS)
    baseline = build(planwise_run, context=context, years=years)
    changed = build(planwise_run, key, value, context, years=years)
    if key == "simulation.random_seed":
        assert changed.summary["seed"] == value != baseline.summary["seed"]
    else:
        assert changed.summary["config_digest"] != baseline.summary["config_digest"]  # the value reached the CLI
    before, after = digest(baseline), digest(changed)
    assert all(rows > 0 for rows, _ in before.values())
    assert after != before, f"{key} = {value!r} changed nothing in the marts"


def test_start_year_shifts_the_calendar_and_changes_the_year(planwise_run):
    baseline = build(planwise_run, years="2025-2026")   # 2026 starts from 2025's survivors
    later = build(planwise_run, years="2026-2026")      # 2026 starts from the census, dated Dec 31 2025
    assert {y for (y,) in later.query("select distinct simulation_year from fct_workforce_snapshot")} == {2026}
    assert digest(later, 2026) != digest(baseline, 2026)
    assert digest(later) != digest(baseline)


def test_end_year_adds_years_and_leaves_earlier_years_alone(planwise_run):
    baseline = build(planwise_run, years="2025-2026")
    shorter = build(planwise_run, years="2025-2025")
    assert {y for (y,) in shorter.query("select distinct simulation_year from fct_yearly_events")} == {2025}
    assert digest(shorter) != digest(baseline)
    assert digest(shorter, 2025) == digest(baseline, 2025)  # a year depends only on the years before it


def test_unknown_key_in_the_config_file_is_an_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("employer_match:\n  rate: 0.5\n  rat: 0.4\n")
    db = tmp_path / "simulation.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "DB_PATH"}
    done = subprocess.run([sys.executable, "-m", "navigator_orchestrator.cli", "run", "--years", "2025-2025",
                           "--config", str(config), "--census", str(tmp_path / "unused.csv"), "--db", str(db)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("planwise: error:") and "employer_match.rat" in done.stderr, done.stderr
    assert not db.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
