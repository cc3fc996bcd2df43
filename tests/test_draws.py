"""The draws of simulation.md section 7, recomputed in Python and compared with what the engine chose.

u(stream, id, Y) = (md5_number_upper(concat_ws('|', seed, stream, id, Y)) >> 11) / 2^53, where DuckDB 2.0's
md5_number_upper(x) is the first 8 bytes of md5(x) read little-endian. Every selection below (who is hired when,
who leaves, who is promoted, who opts out) is rebuilt from the run's seed and the start population read back
from the snapshot (intermediate tables only hold the last built year), then compared exactly.
"""

from __future__ import annotations

import hashlib
import math
import os
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.inputs.config import load_config

RUNS = {"default_5k": {}, "census_20k": {"employees": 20000}}  # the runs the invariant tests share
SHOW = 5


def md5_number_upper(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "little")


def u(seed: int, stream: str, employee_id: str, year: int) -> float:
    return (md5_number_upper(f"{seed}|{stream}|{employee_id}|{year}") >> 11) / 2**53


def days_in_year(year: int) -> int:
    return (date(year + 1, 1, 1) - date(year, 1, 1)).days


def date_in_year(draw: float, year: int) -> date:
    return date(year, 1, 1) + timedelta(days=math.floor(draw * days_in_year(year)))


def age_band(age: int) -> str:
    return "<25" if age < 25 else "25-34" if age < 35 else "35-44" if age < 45 else "45-54" if age < 55 \
        else "55-64" if age < 65 else "65+"


def tenure_band(tenure: int) -> str:
    return "<2" if tenure < 2 else "2-4" if tenure < 5 else "5-9" if tenure < 10 else "10-19" if tenure < 20 \
        else "20+"


def age_segment(age: int) -> str:
    return "young" if age < 30 else "mid_career" if age < 45 else "mature" if age < 60 else "senior"


def income_segment(pay: Decimal) -> str:
    return "low" if pay < 50000 else "moderate" if pay < 100000 else "high" if pay < 200000 else "executive"


def money(value: float | Decimal) -> Decimal:
    """The engine's money(): to 6 decimals, then to cents half away from zero."""
    return Decimal(value).quantize(Decimal("0.000001"), ROUND_HALF_UP).quantize(Decimal("0.01"), ROUND_HALF_UP)


def mismatch(title: str, items: list) -> str:
    return f"{title}: {len(items)} offending, first {min(SHOW, len(items))}: {items[:SHOW]}"


@pytest.fixture(scope="module")
def run(planwise_run):
    """The default run. Under xdist, each worker first requests a different one of the runs the invariant tests
    share, so they are built in parallel rather than one worker idling on the other's lock (see
    test_invariants._build_all); without xdist nothing extra is built."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker[2:].isdigit():
        names = list(RUNS)
        shift = int(worker[2:]) % len(names)
        for name in names[shift:] + names[:shift]:
            planwise_run(**RUNS[name])
    built = planwise_run()
    assert built.status == "success", f"default run failed: {built.errors}\n{built.stderr[-3000:]}"
    return built


@pytest.fixture(scope="module")
def cfg(run) -> dict:
    return dict(load_config(Path(run.folder) / "config.yaml").values)


@pytest.fixture(scope="module")
def con(run):
    connection = run.connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def years(run) -> list[int]:
    return sorted(run.years)


def start_population(con, year: int, first_year: int) -> list[tuple]:
    """Year `year`'s start population from the snapshot (its rows that are not that year's hires), with the start
    level and salary (census/staging for the first year, last year's snapshot after), sorted by id."""
    return con.execute("""
        select s.employee_id, s.current_age, s.current_tenure,
               CASE WHEN s.simulation_year = $y0 THEN c.level_id ELSE p.level_id END as start_level,
               CASE WHEN s.simulation_year = $y0 THEN c.employee_gross_compensation
                    ELSE p.full_year_equivalent_compensation END as start_salary
        from fct_workforce_snapshot s
        left join stg_census_data c on s.simulation_year = $y0 and c.employee_id = s.employee_id
        left join fct_workforce_snapshot p on p.employee_id = s.employee_id and p.simulation_year = $y - 1
        where s.simulation_year = $y
          and s.employee_id not in (select employee_id from fct_yearly_events
                                    where event_type = 'hire' and simulation_year = $y)
        order by s.employee_id
    """, {"y": year, "y0": first_year}).fetchall()


def events(con, event_type: str, year: int, where: str = "true") -> dict[str, tuple]:
    rows = con.execute(f"""
        select employee_id, effective_date, compensation_amount, previous_compensation, level_id, employee_age
        from fct_yearly_events where event_type = ? and simulation_year = ? and {where}
    """, [event_type, year]).fetchall()
    return {row[0]: row[1:] for row in rows}


# ------------------------------------------------------------------------------------------------ the function


def test_md5_number_upper_and_u_match_duckdb():
    ids = [f"EMP_2024_{i:06d}" for i in range(1, 150)] + ["NH_2025_000001", "ÉMP-ü", ""]
    texts = [f"42|term|{i}|2025" for i in ids] + [f"7|hire_date|{i}|2029" for i in ids[:50]]
    with duckdb.connect() as mem:
        got = mem.execute("""
            select x, md5_number_upper(x),
                   CAST(md5_number_upper(x) >> 11 AS DOUBLE) / 9007199254740992.0
            from unnest(?::VARCHAR[]) as t(x)
        """, [texts]).fetchall()
        macro = mem.execute("""
            select (CAST(md5_number_upper(concat_ws('|', '42', 'promo', 'EMP_2024_000123', CAST(2027 AS VARCHAR)))
                    >> 11 AS DOUBLE) / 9007199254740992.0)
        """).fetchone()[0]
    wrong = [(x, n, md5_number_upper(x)) for x, n, _ in got if n != md5_number_upper(x)]
    assert not wrong, mismatch("md5_number_upper differs from hashlib", wrong)
    wrong = [(x, v, (md5_number_upper(x) >> 11) / 2**53) for x, _, v in got if v != (md5_number_upper(x) >> 11) / 2**53]
    assert not wrong, mismatch("u differs", wrong)
    assert macro == u(42, "promo", "EMP_2024_000123", 2027)
    assert all(0 <= v < 1 for _, _, v in got)


# ------------------------------------------------------------------------------------------------ hires


def test_hire_dates_follow_the_hire_date_draw(con, cfg, years):
    seed = cfg["simulation.random_seed"]
    wrong, checked = [], 0
    for year in years:
        for employee_id, (hired, *_rest) in sorted(events(con, "hire", year).items()):
            checked += 1
            expected = date_in_year(u(seed, "hire_date", employee_id, year), year)
            if hired != expected:
                wrong.append((employee_id, year, hired, expected))
    assert checked > 50, f"only {checked} hires"
    assert not wrong, mismatch(f"hire date != Jan 1 + floor(u('hire_date') x days) (of {checked})", wrong)


def test_hire_pay_follows_the_hire_pay_draw(con, cfg, years):
    """pay = level's average start salary (band midpoint without incumbents) x salary_adjustment x (0.90 + 0.18 u)."""
    seed, adjustment = cfg["simulation.random_seed"], Decimal(str(cfg["new_hire.salary_adjustment"]))
    bands = {lv: (lo, hi) for lv, lo, hi in con.execute(
        "select level_id, min_compensation, max_compensation from config_job_levels").fetchall()}
    wrong_base, wrong_pay = [], []
    for year in years:
        salaries: dict[int, list[Decimal]] = {}
        for _, _, _, level, salary in start_population(con, year, years[0]):
            salaries.setdefault(level, []).append(salary)
        bases = dict(con.execute("select level_id, hire_pay_base from int_workforce_needs_by_level "
                                 "where simulation_year = ?", [year]).fetchall())
        for level, (lo, hi) in bands.items():
            pays = salaries.get(level)
            expected = (sum(pays) / len(pays)) if pays else (lo + hi) / 2
            # the engine averages in DOUBLE before rounding to cents: allow that last cent, nothing more
            if level not in bases or abs(bases[level] - expected) > Decimal("0.01"):
                wrong_base.append((year, level, bases.get(level), expected.quantize(Decimal("0.0001"))))
        for employee_id, (_, pay, _, level, _) in sorted(events(con, "hire", year).items()):
            draw = u(seed, "hire_pay", employee_id, year)
            expected = money(float(bases[level] * adjustment) * (0.90 + 0.18 * draw))
            if pay != expected:
                wrong_pay.append((employee_id, year, level, pay, expected))
    assert not wrong_base, mismatch("hire pay base != average start salary of the level's incumbents", wrong_base)
    assert not wrong_pay, mismatch("hire pay != base x adjustment x (0.90 + 0.18 u('hire_pay'))", wrong_pay)


# ------------------------------------------------------------------------------------------------ terminations


def test_experienced_terminations_are_the_smallest_hazard_keys(con, cfg, years):
    """The T_exp start actives with the smallest -ln(u('term'))/w leave, w = base x age x tenure multiplier;
    each on Jan 1 + floor(u('term_date') x days in year)."""
    seed, rate = cfg["simulation.random_seed"], Decimal(str(cfg["workforce.total_termination_rate"]))
    hazard = {(dim, band): m for dim, band, m in con.execute(
        "select dimension, band, multiplier from config_termination_hazard").fetchall()}
    base = hazard[("base", "all")]
    problems = []
    for year in years:
        population = start_population(con, year, years[0])
        t_exp = int((len(population) * rate).quantize(Decimal(1), ROUND_HALF_UP))
        keyed = sorted(
            (-math.log(u(seed, "term", emp, year)) / (base * hazard[("age", age_band(age))]
                                                      * hazard[("tenure", tenure_band(tenure))]), emp)
            for emp, age, tenure, _, _ in population)
        chosen = {emp for _, emp in keyed[:t_exp]}
        rank = {emp: i + 1 for i, (_, emp) in enumerate(keyed)}
        population_ids = {row[0] for row in population}
        actual = {emp: row for emp, row in events(con, "termination", year).items() if emp in population_ids}
        if set(actual) != chosen:
            problems.append(mismatch(
                f"{year}: T_exp = {t_exp}; left but not among the smallest keys (id, key rank)",
                sorted((emp, rank.get(emp)) for emp in set(actual) - chosen)))
            problems.append(mismatch(f"{year}: among the smallest keys but did not leave (id, key rank)",
                                     sorted((emp, rank[emp]) for emp in chosen - set(actual))))
        wrong_dates = [(emp, row[0], date_in_year(u(seed, "term_date", emp, year), year))
                       for emp, row in sorted(actual.items())
                       if row[0] != date_in_year(u(seed, "term_date", emp, year), year)]
        if wrong_dates:
            problems.append(mismatch(f"{year}: termination date != Jan 1 + floor(u('term_date') x days)", wrong_dates))
    assert not problems, "\n".join(problems)


def test_new_hire_terminations_are_the_smallest_nh_term_draws(con, cfg, years):
    """Exactly T_nh hires with a day left in the year leave: the smallest u('nh_term'), ties by id; dated
    hire + 1 + floor(u('nh_term_date') x (Dec 31 - hire))."""
    seed, h = cfg["simulation.random_seed"], Decimal(str(cfg["workforce.new_hire_termination_rate"]))
    problems = []
    for year in years:
        hires = events(con, "hire", year)
        t_nh = int((len(hires) * h).quantize(Decimal(1), ROUND_HALF_UP))
        candidates = sorted((u(seed, "nh_term", emp, year), emp) for emp, row in hires.items()
                            if row[0] < date(year, 12, 31))
        chosen = {emp for _, emp in candidates[:t_nh]}
        actual = {emp: row for emp, row in events(con, "termination", year).items() if emp in hires}
        if set(actual) != chosen:
            problems.append(mismatch(f"{year}: T_nh = {t_nh}; new-hire leavers symmetric difference",
                                     sorted(set(actual) ^ chosen)))
        wrong_dates = []
        for emp, row in sorted(actual.items()):
            hired = hires[emp][0]
            expected = hired + timedelta(days=1 + math.floor(u(seed, "nh_term_date", emp, year)
                                                             * (date(year, 12, 31) - hired).days))
            if row[0] != expected:
                wrong_dates.append((emp, hired, row[0], expected))
        if wrong_dates:
            problems.append(mismatch(f"{year}: new-hire termination date", wrong_dates))
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------ promotions


def test_promotions_follow_the_promo_draw(con, cfg, years):
    """Eligible start actives (level < top, tenure >= 1, age < 65, not gone before Feb 1) are promoted iff
    u('promo') < base x tenure mult x age mult x max(0, 1 - dampener x (level - 1)); the raise is
    raise_min + u('promo_raise') x (raise_max - raise_min)."""
    seed = cfg["simulation.random_seed"]
    base, dampener = cfg["promotion.base_rate"], Decimal(str(cfg["promotion.level_dampener"]))
    raise_min, raise_max = cfg["promotion.raise_min"], cfg["promotion.raise_max"]
    spread = float(Decimal(str(raise_max)) - Decimal(str(raise_min)))
    hazard = {(dim, band): m for dim, band, m in con.execute(
        "select dimension, band, multiplier from config_promotion_hazard").fetchall()}
    top_level = con.execute("select max(level_id) from config_job_levels").fetchone()[0]
    problems = []
    for year in years:
        early = {emp for emp, row in events(con, "termination", year).items() if row[0] < date(year, 2, 1)}
        actual = events(con, "promotion", year)
        expected = {}
        for emp, age, tenure, level, salary in start_population(con, year, years[0]):
            if level >= top_level or tenure < 1 or age >= 65 or emp in early:
                continue
            probability = (hazard[("age", age_band(age))] * hazard[("tenure", tenure_band(tenure))] * base
                           * float(max(Decimal(0), 1 - dampener * (level - 1))))
            if u(seed, "promo", emp, year) < probability:
                pct = raise_min + u(seed, "promo_raise", emp, year) * spread
                expected[emp] = (level + 1, salary, money(float(salary) * (1 + pct)))
        if set(actual) != set(expected):
            problems.append(mismatch(f"{year}: promoted set symmetric difference ({len(actual)} promoted, "
                                     f"{len(expected)} expected)", sorted(set(actual) ^ set(expected))))
        wrong = [(emp, (row[3], row[2], row[1]), expected[emp]) for emp, row in sorted(actual.items())
                 if emp in expected and (row[3], row[2], row[1]) != expected[emp]]
        if wrong:
            problems.append(mismatch(f"{year}: promotion (new level, previous pay, new pay) != expected", wrong))
        wrong_dates = [(emp, row[0]) for emp, row in actual.items() if row[0] != date(year, 2, 1)]
        if wrong_dates:
            problems.append(mismatch(f"{year}: promotion not dated Feb 1", wrong_dates))
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------ opt-outs


def test_opt_outs_follow_the_optout_draw(con, cfg, years):
    """Each auto-enrolled person opts out iff u('optout') < age-segment rate x income-segment multiplier."""
    seed = cfg["simulation.random_seed"]
    by_age = {seg: Decimal(str(cfg[f"enrollment.opt_out_rates.by_age.{seg}"]))
              for seg in ("young", "mid_career", "mature", "senior")}
    by_income = {seg: Decimal(str(cfg[f"enrollment.opt_out_rates.by_income.{seg}"]))
                 for seg in ("low", "moderate", "high", "executive")}
    problems, enrolled_total = [], 0
    for year in years:
        enrolled = events(con, "enrollment", year)
        enrolled_total += len(enrolled)
        opted = events(con, "enrollment_change", year)
        expected = {emp for emp, (_, salary, _, _, age) in enrolled.items()
                    if u(seed, "optout", emp, year) < float(by_age[age_segment(age)] * by_income[income_segment(salary)])}
        if set(opted) != expected:
            problems.append(mismatch(f"{year}: opt-out set symmetric difference ({len(opted)} opted out, "
                                     f"{len(expected)} expected)", sorted(set(opted) ^ expected)))
    assert enrolled_total > 0, "no auto-enrollment events to check"
    assert not problems, "\n".join(problems)
