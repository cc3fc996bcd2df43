"""Configuration loading and validation (simulation.md 1.2): defaults, every class of problem, overrides,
digest and dbt vars. Files are written only under tmp_path; nothing is mocked."""

import dataclasses
import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from navigator_orchestrator.inputs import paths
from navigator_orchestrator.inputs.config import (
    CROSS_RULES,
    FORMULA_LISTS,
    SCHEMA,
    SCHEMA_BY_KEY,
    VESTING_SCHEDULES,
    SimulationConfig,
    from_mapping,
    load_config,
    render_yaml,
    schema_markdown,
)
from navigator_orchestrator.errors import ConfigError

SCHEMA_DEFAULTS = {s.key: s.default for s in SCHEMA}
NUMERIC = [s for s in SCHEMA if s.kind in ("int", "number") and not s.choices]  # ranges (not a list of values)
# keys of the orchestrator (backups, environment): not sent to dbt, not part of the digest
ORCHESTRATOR_KEYS = {"backup.keep", "environment.required", "quality.avg_compensation_min_change",
                     "quality.avg_compensation_max_change"}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, overrides=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), overrides)
    return info.value.problems


def leaf_keys(node, prefix=""):
    for name, value in node.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            yield from leaf_keys(value, dotted)
        else:
            yield dotted


# --- defaults -------------------------------------------------------------------------------------------------


def test_defaults_file_loads_and_equals_schema_defaults():
    cfg = load_config()
    assert dict(cfg.values) == SCHEMA_DEFAULTS
    assert list(cfg.values) == [s.key for s in SCHEMA]
    assert cfg.source == str(paths.DEFAULT_CONFIG)
    assert cfg == SimulationConfig()
    assert (cfg.start_year, cfg.end_year, cfg.seed) == (2025, 2029, 42)
    assert list(cfg.years) == [2025, 2026, 2027, 2028, 2029]
    assert cfg.get("enrollment.auto_enrollment.hire_date_cutoff") == dt.date(2020, 1, 1)


def test_spec_defaults_are_the_schema_defaults():
    """The table of simulation.md 1.2, restated independently, so a wrong schema default fails here; then the
    orchestrator's own keys (backups, required environment variables)."""
    expected = {
        "simulation.start_year": 2025, "simulation.end_year": 2029, "simulation.random_seed": 42,
        "simulation.target_growth_rate": 0.03, "workforce.total_termination_rate": 0.12,
        "workforce.new_hire_termination_rate": 0.25, "compensation.merit_budget": 0.025,
        "compensation.cola_rate": 0.005, "promotion.base_rate": 0.10, "promotion.level_dampener": 0.15,
        "promotion.raise_min": 0.15, "promotion.raise_max": 0.25, "new_hire.salary_adjustment": 1.15,
        "enrollment.auto_enrollment.enabled": True, "enrollment.auto_enrollment.scope": "new_hires_only",
        "enrollment.auto_enrollment.hire_date_cutoff": dt.date(2020, 1, 1),
        "enrollment.auto_enrollment.default_deferral_rate": 0.06,
        "enrollment.opt_out_rates.by_age.young": 0.10, "enrollment.opt_out_rates.by_age.mid_career": 0.07,
        "enrollment.opt_out_rates.by_age.mature": 0.05, "enrollment.opt_out_rates.by_age.senior": 0.03,
        "enrollment.opt_out_rates.by_income.low": 1.2, "enrollment.opt_out_rates.by_income.moderate": 1.0,
        "enrollment.opt_out_rates.by_income.high": 0.7, "enrollment.opt_out_rates.by_income.executive": 0.5,
        "voluntary_enrollment.enabled": False, "voluntary_enrollment.rate_by_age.young": 0.10,
        "voluntary_enrollment.rate_by_age.mid_career": 0.15, "voluntary_enrollment.rate_by_age.mature": 0.15,
        "voluntary_enrollment.rate_by_age.senior": 0.10, "voluntary_enrollment.income_multiplier.low": 0.6,
        "voluntary_enrollment.income_multiplier.moderate": 1.0, "voluntary_enrollment.income_multiplier.high": 1.3,
        "voluntary_enrollment.income_multiplier.executive": 1.5, "voluntary_enrollment.years_after_opt_out": 3,
        "voluntary_enrollment.match_magnet": 0.25,
        "deferral_auto_escalation.enabled": True, "deferral_auto_escalation.increment": 0.01,
        "deferral_auto_escalation.cap": 0.10, "match_response.enabled": False,
        "match_response.share_moving_up": 0.25, "match_response.share_moving_down": 0.0, "employer_match.rate": 0.50,
        "employer_match.max_match_percentage": 0.06, "employer_match.formula": "single_tier",
        "employer_match.tiers": (), "employer_match.service_tiers": (), "employer_match.max_match_amount": None,
        "employer_match.minimum_hours": None, "employer_match.minimum_service_years": 0,
        "employer_match.last_day_rule": None, "employer_match.true_up": True, "payroll.periods_per_year": 26,
        "eligibility.minimum_age": 0, "eligibility.service_months": 0, "eligibility.entry_dates": "immediate",
        "employer_core_contribution.minimum_service_years": 0,
        "employer_core_contribution.last_day_rule": True,
        "employer_core_contribution.enabled": True,
        "employer_core_contribution.rate": 0.02, "employer_core_contribution.minimum_hours": 1000,
        "employer_core_contribution.formula": "flat", "employer_core_contribution.bands": (),
        "employer_core_contribution.base_rate": None, "employer_core_contribution.excess_rate": None,
        "accounts.annual_return": 0.0, "vesting.match.schedule": "immediate", "vesting.match.custom": (),
        "vesting.core.schedule": "immediate", "vesting.core.custom": (), "vesting.service": "elapsed",
        "vesting.hours_per_year": 1000, "forfeitures.use": "reduce_employer_contributions",
        "nondiscrimination.testing_method": "current_year",
    }
    assert {k: v for k, v in SCHEMA_DEFAULTS.items() if k not in ORCHESTRATOR_KEYS} == expected
    assert {k: SCHEMA_DEFAULTS[k] for k in ORCHESTRATOR_KEYS} == {"backup.keep": 5, "environment.required": (),
                                                                  "quality.avg_compensation_min_change": -0.05,
                                                                  "quality.avg_compensation_max_change": 0.15}
    assert {s.key for s in SCHEMA if not s.simulated} == ORCHESTRATOR_KEYS


def test_yaml_file_holds_every_schema_key_no_more_no_fewer():
    raw = yaml.safe_load(paths.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    keys = list(leaf_keys(raw))
    assert len(keys) == len(set(keys))
    assert set(keys) == set(SCHEMA_BY_KEY)


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "simulation:\n", "simulation: {}\n"])
def test_empty_file_or_empty_section_means_all_defaults(tmp_path, text):
    assert dict(load_config(write(tmp_path, text)).values) == SCHEMA_DEFAULTS


def test_missing_keys_take_the_default(tmp_path):
    cfg = load_config(write(tmp_path, "compensation:\n  merit_budget: 0.04\n"))
    assert cfg.get("compensation.merit_budget") == 0.04
    assert cfg.get("compensation.cola_rate") == 0.005
    assert cfg.get("simulation.end_year") == 2029


def test_render_yaml_and_to_dict_round_trip(tmp_path):
    cfg = SimulationConfig().with_overrides({"promotion.raise_max": 0.3, "enrollment.auto_enrollment.enabled": False})
    assert load_config(write(tmp_path, render_yaml(cfg))) == cfg
    assert from_mapping(cfg.to_dict()) == cfg
    assert cfg.to_dict()["enrollment"]["opt_out_rates"]["by_income"]["low"] == 1.2
    assert all(f"`{s.key}`" in schema_markdown() for s in SCHEMA)


def test_config_is_immutable():
    cfg = SimulationConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.values = {}
    with pytest.raises(TypeError):
        cfg.values["simulation.random_seed"] = 1
    with pytest.raises(KeyError, match="random_seed"):
        cfg.get("simulation.seed")


# --- types --------------------------------------------------------------------------------------------------------


def test_ints_accepted_for_numbers_and_stored_as_float(tmp_path):
    cfg = load_config(write(tmp_path, "compensation:\n  merit_budget: 0\nnew_hire:\n  salary_adjustment: 2\n"))
    assert cfg.get("compensation.merit_budget") == 0.0 and isinstance(cfg.get("compensation.merit_budget"), float)
    assert isinstance(cfg.get("new_hire.salary_adjustment"), float)
    assert cfg.digest() == SimulationConfig().with_overrides(
        {"compensation.merit_budget": 0.0, "new_hire.salary_adjustment": 2.0}).digest()


@pytest.mark.parametrize(
    "section, key, text, expected",
    [
        ("compensation", "merit_budget", "'abc'", "compensation.merit_budget: expected a number in 0..0.5, got 'abc'"),
        ("compensation", "merit_budget", "'0.03'", "expected a number in 0..0.5, got '0.03'"),
        ("simulation", "start_year", "2025.5", "simulation.start_year: expected an integer in 1900..2200, got 2025.5"),
        ("simulation", "random_seed", "'42'", "simulation.random_seed: expected an integer"),
        ("deferral_auto_escalation", "enabled", "'yes'", "expected true or false, got 'yes'"),
        ("deferral_auto_escalation", "enabled", "1", "deferral_auto_escalation.enabled: expected true or false, got 1"),
        ("employer_match", "rate", "[0.5]", "employer_match.rate: expected a number in 0..1, got a list"),
        ("employer_match", "rate", "{a: 1}", "employer_match.rate: expected a number in 0..1, got a mapping"),
        ("employer_match", "rate", "null", "employer_match.rate: expected a number in 0..1, got null"),
        ("employer_core_contribution", "minimum_hours", "1000.5", "expected an integer in 0..2080, got 1000.5"),
        ("backup", "keep", "'5'", "backup.keep: expected an integer in 1..1000, got '5'"),
        ("environment", "required", "PLANWISE_API_TOKEN", "environment.required: expected a list of environment "
                                                          "variable names"),
        ("environment", "required", "[OK, 1BAD]", "got '1BAD' at position 2"),
        ("environment", "required", "[A, 3]", "got 3 at position 2"),
        ("environment", "required", "[TOKEN, TOKEN]", "got TOKEN twice"),
    ],
)
def test_wrong_type_is_reported_with_key_and_expectation(tmp_path, section, key, text, expected):
    (problem,) = problems_of(tmp_path, f"{section}:\n  {key}: {text}\n")
    assert expected in problem


@pytest.mark.parametrize("key", [s.key for s in NUMERIC])
def test_a_yaml_bool_is_not_a_number(tmp_path, key):
    with pytest.raises(ConfigError) as info:
        SimulationConfig().with_overrides({key: True})
    (problem,) = info.value.problems
    assert problem.startswith(f"{key} (override): expected") and "got true (a boolean)" in problem
    *parents, leaf = key.split(".")
    text = "".join("  " * i + p + ":\n" for i, p in enumerate(parents)) + "  " * len(parents) + f"{leaf}: false\n"
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(f"{key}: expected") and "got false (a boolean)" in problem


def test_dates_as_yaml_dates_or_iso_strings_only(tmp_path):
    section = "enrollment:\n  auto_enrollment:\n    hire_date_cutoff: "
    as_date = load_config(write(tmp_path, section + "2021-03-04\n"))
    as_text = load_config(write(tmp_path, section + "'2021-03-04'\n"))
    assert as_date == as_text
    assert as_date.get("enrollment.auto_enrollment.hire_date_cutoff") == dt.date(2021, 3, 4)
    assert as_date.dbt_vars()["enrollment__auto_enrollment__hire_date_cutoff"] == "2021-03-04"
    for bad in ["'2021-02-30'", "'20210304'", "'03/04/2021'", "2021-03-04 10:00:00", "20210304"]:
        (problem,) = problems_of(tmp_path, section + bad + "\n")
        assert problem.startswith("enrollment.auto_enrollment.hire_date_cutoff: expected a date YYYY-MM-DD")


def test_scope_must_be_one_of_the_choices(tmp_path):
    section = "enrollment:\n  auto_enrollment:\n    scope: "
    assert load_config(write(tmp_path, section + "all_eligible_employees\n")).get(
        "enrollment.auto_enrollment.scope") == "all_eligible_employees"
    (problem,) = problems_of(tmp_path, section + "everyone\n")
    assert problem == ("enrollment.auto_enrollment.scope: expected one of 'new_hires_only', "
                       "'all_eligible_employees', got 'everyone'")


# --- unknown keys and structure -----------------------------------------------------------------------------------


def test_unknown_nested_key_is_named_with_a_suggestion(tmp_path):
    (problem,) = problems_of(tmp_path, "compensation:\n  merit_budjet: 0.03\n")
    assert problem == "compensation.merit_budjet: unknown key; did you mean 'compensation.merit_budget'?"


def test_unknown_top_level_key_is_named_with_a_suggestion(tmp_path):
    (problem,) = problems_of(tmp_path, "simulaton:\n  start_year: 2025\n")
    assert problem == "simulaton: unknown key; did you mean 'simulation'?"


def test_key_in_the_wrong_section_points_to_the_right_one(tmp_path):
    (problem,) = problems_of(tmp_path, "simulation:\n  merit_budget: 0.03\n")
    assert "did you mean 'compensation.merit_budget'?" in problem
    (problem,) = problems_of(tmp_path, "compensaton:\n  merit_budget: 0.03\n")
    assert problem == "compensaton: unknown key; did you mean 'compensation'?"
    with pytest.raises(ConfigError, match="did you mean 'compensation.merit_budget'"):
        SimulationConfig().with_overrides({"compensaton.merit_budget": 0.03})


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path):
    (problem,) = problems_of(tmp_path, "employer_match:\n  zzz: 1\nqqq: 2\n")[:1]
    assert problem.startswith("employer_match.zzz: unknown key; remove it (known keys here: rate, max_match_percentage, "
                              "formula, tiers, service_tiers, max_match_amount, minimum_hours, minimum_service_years, "
                              "last_day_rule, true_up)")


def test_a_section_that_is_not_a_mapping(tmp_path):
    (problem,) = problems_of(tmp_path, "promotion: 0.1\n")
    assert problem.startswith("promotion: expected a section with keys base_rate, level_dampener")
    (problem,) = problems_of(tmp_path, "- 1\n- 2\n")
    assert problem.startswith("(top level): expected a mapping of sections")


def test_dotted_key_inside_the_file_is_rejected(tmp_path):
    (problem,) = problems_of(tmp_path, "compensation.merit_budget: 0.03\n")
    assert problem.startswith("compensation.merit_budget: keys must not contain '.'")


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path):
    (problem,) = problems_of(tmp_path, "employer_match:\n  rate: 0.5\n  rate: 0.6\n")
    assert problem == "employer_match.rate: duplicate key at line 3; keep only one of them"


# --- ranges and cross-key rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("compensation.merit_budget", 0.6, "expected a number in 0..0.5, got 0.6"),
        ("compensation.cola_rate", -0.01, "expected a number in 0..0.5, got -0.01"),
        ("simulation.target_growth_rate", -0.6, "expected a number in -0.5..1, got -0.6"),
        ("workforce.total_termination_rate", 1.5, "expected a number in 0..1, got 1.5"),
        ("workforce.new_hire_termination_rate", 1, "expected a number in 0..0.99, got 1"),
        ("deferral_auto_escalation.increment", 0, "expected a number > 0 and <= 1, got 0"),
        ("simulation.random_seed", 2**31, "expected an integer in 0..2147483647, got 2147483648"),
        ("simulation.random_seed", -1, "got -1"),
        ("simulation.start_year", 1899, "expected an integer in 1900..2200, got 1899"),
        ("new_hire.salary_adjustment", 0.4, "expected a number in 0.5..3, got 0.4"),
        ("enrollment.opt_out_rates.by_income.low", 5.5, "expected a number in 0..5, got 5.5"),
        ("employer_core_contribution.minimum_hours", 2081, "expected an integer in 0..2080, got 2081"),
        ("employer_match.rate", math.nan, "got nan"),
        ("promotion.base_rate", math.inf, "got inf"),
        ("backup.keep", 0, "expected an integer in 1..1000, got 0"),
        ("backup.keep", 1001, "expected an integer in 1..1000, got 1001"),
        ("payroll.periods_per_year", 25, "expected one of 12, 24, 26, 52, got 25"),
        ("eligibility.minimum_age", 31, "expected an integer in 0..30, got 31"),
        ("eligibility.service_months", 13, "expected an integer in 0..12, got 13"),
        ("eligibility.entry_dates", "yearly", "expected one of 'immediate', 'monthly', 'quarterly', 'semi_annual'"),
        ("accounts.annual_return", 0.6, "expected a number in -0.5..0.5, got 0.6"),
        ("accounts.annual_return", -0.51, "expected a number in -0.5..0.5, got -0.51"),
        ("vesting.match.schedule", "cliff_4", "expected one of 'immediate', 'cliff_1', 'cliff_2', 'cliff_3', "
                                              "'graded_2_to_6', 'graded_1_to_5', 'qaca_2_year', 'custom', got 'cliff_4'"),
        ("vesting.core.schedule", "graded", "got 'graded'"),
        ("vesting.match.custom", [{"years": 3, "percent": 101}], "step 1: percent must be a number in 0..100, got 101"),
        ("vesting.match.custom", [{"years": 3, "percent": math.nan}], "step 1: percent must be a number in 0..100"),
        ("vesting.match.custom", [{"years": 1, "percent": 60}, {"years": 2, "percent": 40}],
         "step 2: percent must not fall, got 40 after 60"),
        ("vesting.core.custom", [{"years": 2, "percent": 50}, {"years": 2, "percent": 100}],
         "step 2: years must rise strictly, got 2 after 2"),
        ("vesting.core.custom", [{"years": 51, "percent": 100}], "step 1: years must be whole years of vesting "
                                                                "service in 0..50, got 51"),
        ("vesting.core.custom", [{"years": 1.5, "percent": 100}], "got 1.5"),
        ("vesting.core.custom", [{"year": 1, "percent": 100}], "step 1: expected {years, percent}, got a mapping"),
        ("vesting.core.custom", {"years": 1, "percent": 100}, "expected a list of {years, percent}"),
        ("vesting.service", "months", "expected one of 'elapsed', 'hours', got 'months'"),
        ("vesting.hours_per_year", 0, "expected an integer in 1..2080, got 0"),
        ("vesting.hours_per_year", 2081, "expected an integer in 1..2080, got 2081"),
        ("forfeitures.use", "refund", "expected one of 'reduce_employer_contributions', 'pay_plan_expenses', "
                                      "'reallocate', got 'refund'"),
    ],
)
def test_out_of_range_is_reported(key, value, expected):
    with pytest.raises(ConfigError) as info:
        SimulationConfig().with_overrides({key: value})
    (problem,) = info.value.problems
    assert problem.startswith(f"{key} (override): ") and expected in problem


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda s: s.key)
def test_closed_bounds_are_inclusive_and_open_bounds_exclusive(setting):
    for bound, is_open in ((setting.lo, setting.lo_open), (setting.hi, setting.hi_open)):
        value, problem = setting.check(bound)
        assert (problem is not None) == is_open, (setting.key, bound)
    step = 1 if setting.kind == "int" else 1e-9
    assert setting.check(setting.lo - step)[1] is not None
    assert setting.check(setting.hi + step)[1] is not None


def test_start_year_after_end_year(tmp_path):
    (problem,) = problems_of(tmp_path, "simulation:\n  start_year: 2030\n  end_year: 2029\n")
    assert problem.startswith("simulation.start_year: must be <= simulation.end_year (2029), got 2030")
    assert load_config(write(tmp_path, "simulation:\n  start_year: 2027\n  end_year: 2027\n")).years == range(2027, 2028)


def test_raise_min_above_raise_max(tmp_path):
    (problem,) = problems_of(tmp_path, "promotion:\n  raise_min: 0.3\n  raise_max: 0.2\n")
    assert problem.startswith("promotion.raise_min: must be <= promotion.raise_max (0.2), got 0.3")


def test_cross_rule_not_reported_when_a_side_is_already_invalid(tmp_path):
    assert len(problems_of(tmp_path, "promotion:\n  raise_min: 0.3\n  raise_max: abc\n")) == 1


def test_several_problems_in_one_file_are_all_reported_in_one_error(tmp_path):
    text = (
        "simulation:\n  start_year: 2031\n  random_seed: true\n"
        "compensation:\n  merit_budget: abc\n  merit_budjet: 0.1\n"
        "promotion:\n  raise_min: 0.3\n  raise_max: 0.2\n"
        "extra_section: 1\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    err = info.value
    assert len(err.problems) == 6
    for key in ["simulation.start_year", "simulation.random_seed", "compensation.merit_budget:",
                "compensation.merit_budjet", "promotion.raise_min", "extra_section"]:
        assert sum(key in p for p in err.problems) >= 1, key
    message = str(err)
    assert "\n" not in message and message.startswith(str(tmp_path / "config.yaml"))
    assert err.exit_code == 2


# --- vesting: the law's slowest schedules and a safe harbor match's vesting ---------------------------------------


def custom(*steps: tuple[int, float]) -> list[dict]:
    return [{"years": years, "percent": percent} for years, percent in steps]


@pytest.mark.parametrize("steps", [
    [(3, 100)],                                          # the 3-year cliff itself
    [(0, 0), (1, 10), (3, 100)],                         # faster than the cliff (graded before it)
    [(2, 20), (3, 40), (4, 60), (5, 80), (6, 100)],      # the 2-to-6-year graded schedule itself
    [(1, 20), (2, 40), (3, 60), (4, 80), (5, 100)],      # graded_1_to_5
    [(2, 25.5), (3, 45), (4, 60), (5, 80.5), (6, 100)],  # at least the graded percents every year, percents as numbers
    [(0, 100)],                                          # immediate
])
def test_a_custom_schedule_at_least_as_fast_as_the_law_is_accepted(steps):
    cfg = SimulationConfig().with_overrides({"vesting.core.schedule": "custom", "vesting.core.custom": custom(*steps)})
    assert cfg.get("vesting.core.custom") == tuple((years, float(percent)) for years, percent in steps)
    assert cfg.dbt_vars()["vesting__core__custom"] == custom(*((y, float(p)) for y, p in steps))
    assert from_mapping(yaml.safe_load(render_yaml(cfg))) == cfg


@pytest.mark.parametrize("steps, short", [
    ([(4, 100)], "vests 0 % at 2 years"),                                   # a 4-year cliff
    ([(2, 50), (5, 100)], "vests 50 % at 4 years"),                         # neither 100 % at 3 nor 60 % at 4
    ([(2, 20), (3, 40), (4, 60), (5, 80), (7, 100)], "vests 80 % at 6 years"),  # graded, one year late
    ([(1, 10), (2, 19), (3, 99)], "vests 19 % at 2 years"),                 # just under both
    ([(3, 50)], "vests 0 % at 2 years"),                                    # never reaches 100 %
])
def test_a_custom_schedule_slower_than_the_law_is_refused_in_one_line(steps, short):
    with pytest.raises(ConfigError) as info:
        SimulationConfig().with_overrides({"vesting.match.schedule": "custom", "vesting.match.custom": custom(*steps)})
    (problem,) = info.value.problems
    assert problem.startswith("vesting.match.custom (override): slower than the law allows (IRC 411(a)(2)(B))")
    assert "100 % by 3 years" in problem and "20 % at 2, 40 % at 3, 60 % at 4, 80 % at 5 and 100 % at 6" in problem
    assert short in problem and problem.endswith("raise its percents or use cliff_3 or graded_2_to_6")


def test_every_named_vesting_schedule_is_as_fast_as_the_law():
    for name, steps in VESTING_SCHEDULES.items():
        assert SCHEMA_BY_KEY["vesting.core.custom"].check(custom(*steps))[1] is None, name


def test_a_custom_list_goes_with_schedule_custom_only():
    (problem,) = _problems({"vesting.match.custom": custom((3, 100))})
    assert problem == ("vesting.match.custom: is read only by vesting.match.schedule custom (it is immediate); remove it "
                       "or set vesting.match.schedule: custom")
    (problem,) = _problems({"vesting.core.schedule": "custom"})
    assert problem.startswith("vesting.core.custom: vesting.core.schedule custom needs it; set it to a list of "
                              "{years, percent}")


def _problems(overrides: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        SimulationConfig().with_overrides(overrides)
    return info.value.problems


@pytest.mark.parametrize("formula, accepted", [("safe_harbor_basic", {"immediate"}),
                                               ("safe_harbor_enhanced", {"immediate"}),
                                               ("qaca", {"immediate", "qaca_2_year"}),
                                               ("single_tier", set(SCHEMA_BY_KEY["vesting.match.schedule"].choices))])
def test_a_safe_harbor_match_vests_as_the_law_requires(formula, accepted):
    for schedule in SCHEMA_BY_KEY["vesting.match.schedule"].choices:
        overrides = {"employer_match.formula": formula, "vesting.match.schedule": schedule,
                     **({"vesting.match.custom": custom((1, 50), (2, 100))} if schedule == "custom" else {})}
        if schedule in accepted:
            assert SimulationConfig().with_overrides(overrides).get("vesting.match.schedule") == schedule
            continue
        (problem,) = _problems(overrides)
        assert problem.startswith(f"vesting.match.schedule: a {'QACA' if formula == 'qaca' else 'safe harbor'} match "
                                  f"({formula})"), problem
        assert f"got {schedule}; set vesting.match.schedule: " in problem
        assert ("IRC 401(k)(13)(D)(iii)" if formula == "qaca" else "Treas. Reg. 1.401(k)-3(c)(1)") in problem
    # the core's vesting is free under a safe harbor match (a core is not the safe harbor contribution here)
    assert SimulationConfig().with_overrides({"employer_match.formula": formula, "vesting.core.schedule": "cliff_3"})


@pytest.mark.parametrize("text, key, words", [
    ("vesting:\n  match:\n    schedule: custom\n    custom: [{years: 4, percent: 100}]\n", "vesting.match.custom",
     "IRC 411(a)(2)(B)"),
    ("employer_match:\n  formula: safe_harbor_basic\nvesting:\n  match:\n    schedule: cliff_3\n",
     "vesting.match.schedule", "safe harbor"),
])
def test_an_illegal_vesting_config_is_refused_by_the_cli_in_one_line(tmp_path, text, key, words):
    config = tmp_path / "plan.yaml"
    config.write_text(text)
    done = subprocess.run([sys.executable, "-m", "navigator_orchestrator.cli", "run", "--years", "2025-2025",
                           "--config", str(config), "--db", str(tmp_path / "simulation.duckdb")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert key in line and words in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.yaml"]


# --- files --------------------------------------------------------------------------------------------------------


def test_invalid_yaml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "simulation:\n  start_year: 2025\n  end_year: [2029\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: invalid YAML at line 4")
    assert "\n" not in str(info.value)


def test_bad_indentation_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"invalid YAML at line 3, column 2"):
        load_config(write(tmp_path, "simulation:\n  start_year: 2025\n end_year: 2029\n"))


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: file not found")
    assert info.value.exit_code == 2


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"simulation:\n  start_year: 2025 # \xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


# --- overrides ------------------------------------------------------------------------------------------------------


def test_overrides_win_over_the_file(tmp_path):
    path = write(tmp_path, "compensation:\n  merit_budget: 0.04\n")
    cfg = load_config(path, {"compensation.merit_budget": 0.03, "simulation.random_seed": 7})
    assert cfg.get("compensation.merit_budget") == 0.03 and cfg.seed == 7


def test_overrides_are_validated_like_file_values(tmp_path):
    problems = problems_of(tmp_path, "", {
        "compensation.merit_budget": "abc",
        "simulation.random_sed": 7,
        "compensation": {"merit_budget": 0.03},
        "promotion.raise_min": 0.5,
    })
    assert problems == [
        "simulation.random_sed (override): unknown key; did you mean 'simulation.random_seed'?",
        "compensation (override): is a section; set its keys one by one (merit_budget, cola_rate)",
        "compensation.merit_budget (override): expected a number in 0..0.5, got 'abc'",
        "promotion.raise_min: must be <= promotion.raise_max (0.25), got 0.5; "
        "lower promotion.raise_min or raise promotion.raise_max",
    ]


def test_file_and_override_problems_come_in_one_error(tmp_path):
    problems = problems_of(tmp_path, "compensation:\n  cola_rate: x\n", {"simulation.end_year": "2030"})
    assert [p.split(":")[0] for p in problems] == ["compensation.cola_rate", "simulation.end_year (override)"]


def test_with_overrides_revalidates_and_leaves_the_original_alone():
    base = SimulationConfig()
    changed = base.with_overrides({"simulation.end_year": 2026})
    assert changed.end_year == 2026 and base.end_year == 2029
    with pytest.raises(ConfigError, match="simulation.end_year"):
        changed.with_overrides({"simulation.start_year": 2027})
    with pytest.raises(ConfigError, match=r"simulation.seed \(override\): unknown key; did you mean 'simulation.random_seed'"):
        base.with_overrides({"simulation.seed": 1})
    with pytest.raises(ConfigError, match="unknown key"):
        SimulationConfig({"not.a.key": 1})


# --- digest and dbt vars ----------------------------------------------------------------------------------------


COMPANION_VALUES = {"vesting.match.custom": [{"years": 1, "percent": 50}, {"years": 2, "percent": 100}],
                    "vesting.core.custom": [{"years": 3, "percent": 100}],
                    "employer_match.tiers": [{"rate": 1.0, "up_to": 0.04}],
                    "employer_match.service_tiers": [{"min_years": 0, "tiers": [{"rate": 1.0, "up_to": 0.04}]}],
                    "employer_core_contribution.bands": [{"min": 0, "rate": 0.03}],
                    "employer_core_contribution.base_rate": 0.05, "employer_core_contribution.excess_rate": 0.05}


def _formula_companions(key: str, value: object) -> dict:
    """What must come with `key: value`: a formula's own keys for a formula, and for one of those keys its formula
    (with the other keys that formula reads)."""
    formula = next(((formula_key, names[0]) for listed, formula_key, names in FORMULA_LISTS if listed == key), None)
    chosen = formula or (key, value)
    return {**({formula[0]: formula[1]} if formula else {}),
            **{listed: COMPANION_VALUES[listed] for listed, formula_key, names in FORMULA_LISTS
               if formula_key == chosen[0] and chosen[1] in names and listed != key}}


def other_valid_value(cfg: SimulationConfig, setting) -> dict:
    """Overrides that give `setting` a value different from the current one and that the config accepts (cross
    rules included: a formula's list comes with its formula)."""
    cur = cfg.get(setting.key)
    tiers = [{"rate": 1.0, "up_to": 0.03}, {"rate": 0.5, "up_to": 0.05}]
    candidates = {
        "bool": lambda: [not cur],
        "choice": lambda: [c for c in setting.choices if c != cur],
        "date": lambda: [cur + dt.timedelta(days=1), cur - dt.timedelta(days=1)],
        "int": lambda: ([c for c in setting.choices if c != cur] if setting.choices
                        else [setting.hi // 2] if cur is None else [cur + 1, cur - 1]),
        "number": lambda: [0.05] if cur is None else [(cur + setting.hi) / 2, (cur + setting.lo) / 2],
        "names": lambda: [[*cur, "PLANWISE_API_TOKEN"]],
        "tiers": lambda: [tiers],
        "service_tiers": lambda: [[{"min_years": 0, "tiers": tiers}]],
        "bands": lambda: [[{"min": 0, "rate": 0.03}]],
        "schedule": lambda: [[{"years": 0, "percent": 20}, {"years": 3, "percent": 100}]],
    }[setting.kind]()
    for value in candidates:
        overrides = {**_formula_companions(setting.key, value), setting.key: value}
        try:
            cfg.with_overrides(overrides)
            return overrides
        except ConfigError:
            continue
    raise AssertionError(f"no other valid value for {setting.key}")


def test_digest_is_stable_across_runs_and_key_order(tmp_path):
    forward = "simulation:\n  random_seed: 9\n  end_year: 2027\ncompensation:\n  cola_rate: 0.01\n"
    backward = "compensation:\n  cola_rate: 0.01\nsimulation:\n  end_year: 2027\n  random_seed: 9\n"
    a = load_config(write(tmp_path, forward, "a.yaml"))
    b = load_config(write(tmp_path, backward, "b.yaml"))
    assert a.digest() == b.digest() == load_config(write(tmp_path, forward, "c.yaml")).digest()
    assert a == b and hash(a) == hash(b)
    assert len(a.digest()) == 64 and a.digest() != SimulationConfig().digest()
    # pinned: the canonical form (and so every stored digest) must not change by accident between runs or
    # Python versions; update this literal only together with a deliberate change of defaults or format
    assert SimulationConfig().digest() == "b299e7841d16c14672f94a57a161199563379324b737377e0f5c2e842d0e1f17"


@pytest.mark.parametrize("setting", [s for s in SCHEMA if s.simulated], ids=lambda s: s.key)
def test_digest_and_dbt_vars_change_when_any_value_changes(setting):
    base = SimulationConfig()
    changed = base.with_overrides(other_valid_value(base, setting))
    assert changed.digest() != base.digest()
    assert changed.dbt_vars()[setting.dbt_var] != base.dbt_vars()[setting.dbt_var]
    assert changed != base


@pytest.mark.parametrize("setting", [s for s in SCHEMA if not s.simulated], ids=lambda s: s.key)
def test_orchestrator_keys_change_the_config_but_not_what_a_run_computes(setting):
    """backup.keep and environment.required cannot change a result: same digest (so checkpoints and run
    identities stay valid), nothing sent to dbt; the config itself does differ and round-trips through YAML."""
    base = SimulationConfig()
    changed = base.with_overrides(other_valid_value(base, setting))
    assert changed != base and changed.get(setting.key) != base.get(setting.key)
    assert changed.digest() == base.digest()
    assert changed.dbt_vars() == base.dbt_vars() and setting.dbt_var not in changed.dbt_vars()
    assert from_mapping(yaml.safe_load(render_yaml(changed))) == changed


def test_dbt_vars_names_and_values():
    dbt_vars = SimulationConfig().dbt_vars()
    assert set(dbt_vars) == {s.key.replace(".", "__") for s in SCHEMA if s.key not in ORCHESTRATOR_KEYS}
    assert dbt_vars["compensation__merit_budget"] == 0.025
    assert dbt_vars["enrollment__opt_out_rates__by_age__young"] == 0.10
    assert dbt_vars["enrollment__opt_out_rates__by_income__executive"] == 0.5
    assert dbt_vars["simulation__random_seed"] == 42
    assert dbt_vars["enrollment__auto_enrollment__hire_date_cutoff"] == "2020-01-01"
    assert dbt_vars["deferral_auto_escalation__enabled"] is True
    text = json.dumps(dbt_vars)
    assert '"employer_core_contribution__enabled": true' in text
    assert json.loads(text) == dbt_vars


def test_dbt_project_var_defaults_match_the_schema():
    """dbt_project.yml repeats the defaults so plain `dbt run` works; they must not drift from the schema."""
    project = paths.DBT_DIR / "dbt_project.yml"
    declared = yaml.safe_load(project.read_text(encoding="utf-8")).get("vars") or {}
    expected = SimulationConfig().dbt_vars()
    assert {name: declared.get(name) for name in expected} == expected


# --- property: every in-range numeric value loads and round-trips -------------------------------------------------


def numeric_value(setting):
    if setting.kind == "int":
        return st.integers(setting.lo, setting.hi)
    floats = st.floats(setting.lo, setting.hi, exclude_min=setting.lo_open, exclude_max=setting.hi_open,
                       allow_nan=False)
    ints = st.integers(math.ceil(setting.lo), math.floor(setting.hi)).filter(
        lambda v: setting.check(v)[1] is None)
    return floats | ints


@settings(max_examples=settings.default.max_examples * 3 // 2, deadline=None)  # 150; more when exploring
@given(st.fixed_dictionaries({s.key: numeric_value(s) for s in NUMERIC}))
def test_any_in_range_numeric_values_load_and_round_trip_through_dbt_vars(drawn):
    for small, large in CROSS_RULES:
        drawn[small], drawn[large] = sorted((drawn[small], drawn[large]))
    base, excess = "employer_core_contribution.base_rate", "employer_core_contribution.excess_rate"
    drawn[excess] = min(drawn[excess], drawn[base])  # within the permitted disparity, read by an integrated core
    nested = SimulationConfig().with_overrides({**drawn, "employer_core_contribution.formula": "integrated"}).to_dict()
    cfg = from_mapping(yaml.safe_load(yaml.safe_dump(nested, sort_keys=False)))
    for key, value in drawn.items():
        assert cfg.get(key) == value
        assert type(cfg.get(key)) is (int if SCHEMA_BY_KEY[key].kind == "int" else float)
    sent = json.loads(json.dumps(cfg.dbt_vars()))
    back = SimulationConfig({name.replace("__", "."): value for name, value in sent.items()})
    # dbt receives every simulated key (the orchestrator's backup.keep is not sent: compare what a run computes)
    assert back.dbt_vars() == cfg.dbt_vars() and back.digest() == cfg.digest()
    assert back == cfg.with_overrides({key: SCHEMA_BY_KEY[key].default for key in ORCHESTRATOR_KEYS})
