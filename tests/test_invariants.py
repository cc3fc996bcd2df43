"""The invariants of simulation.md section 6 (items 1-9; 10-11, determinism and config sensitivity, have their own
tests), the plan-rule invariants 12-20 (deferral day by day, match and core, auto-enrollment, opt-out, plan entry,
employer-money accounts, HCEs and ADP/ACP, the match's pull, voluntary enrollment) with one deliberate corruption
each that they must catch (19 and 20 in the tests of their behaviour), and the worked examples of
sections 3.1 and 4.

Every invariant is checked on two real runs built by the CLI: the default census (5,000 people) and a generated
20,000-person census, both 2025-2029 with seed 42. The checks themselves live in pytest_planwise.invariants
(set-based SQL, quotas recomputed with decimal.Decimal); every failure names the offending rows.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_planwise import invariants as inv
from pytest_planwise.invariants import CENT, SHOW, Ctx, apportion, prorate, report, round_half_up, workforce_quotas

RUNS = {"default_5k": {}, "census_20k": {"employees": 20000}}


def _build_all(planwise_run) -> None:
    """Request every run this module uses, starting with a different one on each xdist worker, so the builds
    run in parallel instead of one worker waiting on the other's lock; the results are the same either way."""
    names = list(RUNS)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    shift = int(worker[2:]) % len(names) if worker[2:].isdigit() else 0
    for name in names[shift:] + names[:shift]:
        planwise_run(**RUNS[name])


@pytest.fixture(scope="module", params=list(RUNS))
def ctx(request, planwise_run):
    _build_all(planwise_run)
    run = planwise_run(**RUNS[request.param])
    assert run.status == "success", f"run {request.param} failed: {run.errors}\n{run.stderr[-3000:]}"
    context = inv.open_context(run, request.param)
    assert context.years == list(range(context.cfg["simulation.start_year"], context.cfg["simulation.end_year"] + 1))
    yield context
    context.con.close()


@pytest.mark.parametrize("invariant", inv.INVARIANTS, ids=lambda f: f.__name__)
def test_invariant_holds(ctx: Ctx, invariant):
    problems = invariant(ctx)
    assert not problems, report(problems)


# ------------------------------------------------------------------------------------------------ worked examples


def test_worked_example_3_1_workforce_needs():
    assert workforce_quotas(4368, Decimal("0.03"), Decimal("0.12"), Decimal("0.25")) == {
        "N": 4368, "G": 131, "T_exp": 524, "H": 873, "T_nh": 218, "end": 4499}
    assert apportion(873, {1: Decimal("0.40"), 2: Decimal("0.30"), 3: Decimal("0.20"), 4: Decimal("0.08"),
                           5: Decimal("0.02")}) == {1: 349, 2: 262, 3: 175, 4: 70, 5: 17}


def _walk_every_day(salary, rate, events, employed_from, employed_to, year):
    """The definition, literally: every day of the year gets the salary and rate its day's and earlier events set."""
    pay = deferral = Decimal(0)
    days, day = 0, date(year, 1, 1)
    while day.year == year:
        for event in (e for e in events if e["d"] == day):
            salary = event["pay"] if event["type"] in ("hire", "promotion", "raise") else salary
            rate = event["rate"] if event["type"] in ("enrollment", "enrollment_change", "deferral_escalation") \
                else rate
        if employed_from <= day <= employed_to:
            pay, deferral, days = pay + salary, deferral + salary * rate, days + 1
        day += timedelta(days=1)
    return round_half_up(pay / inv.days_in_year(year), CENT), round_half_up(deferral / inv.days_in_year(year), CENT), days


_DAYS = st.dates(date(2027, 11, 1), date(2029, 2, 1))
_EVENTS = st.lists(st.fixed_dictionaries({
    "d": _DAYS, "type": st.sampled_from(["hire", "promotion", "raise", "enrollment", "enrollment_change",
                                         "deferral_escalation", "termination"]),
    "pay": st.decimals(1, 400000, places=2), "rate": st.decimals(0, 1, places=2)}), max_size=8)


@settings(max_examples=3 * settings.default.max_examples, deadline=None)  # 300; more when exploring
@given(salary=st.decimals(0, 400000, places=2), rate=st.decimals(0, 1, places=2), events=_EVENTS,
       employed=st.tuples(_DAYS, _DAYS))
def test_day_by_day_adds_each_stretch_of_alike_days_as_the_days_themselves(salary, rate, events, employed):
    """Invariant 12's recomputation adds the days between two event days at once; it must equal walking every day
    (leap year 2028, events and employment before, inside and after the year, several events on one day)."""
    assert inv.day_by_day(salary, rate, events, *employed, 2028) == _walk_every_day(salary, rate, events, *employed, 2028)


def test_worked_example_4_prorated_pay(ctx: Ctx):
    # the example itself: $100,000, promoted Feb 1 to $117,000, raise Jul 15 of 3 % -> $120,510
    promoted = round_half_up(Decimal("100000") * Decimal("1.17"), CENT)
    raised = round_half_up(promoted * Decimal("1.03"), CENT)
    assert (promoted, raised) == (Decimal("117000.00"), Decimal("120510.00"))
    pay, segments = prorate(Decimal("100000"), [(date(2025, 2, 1), promoted), (date(2025, 7, 15), raised)],
                            date(2025, 1, 1), date(2025, 12, 31), 2025)
    assert [days for _, days in segments] == [31, 164, 170]
    assert pay == Decimal("117190.96")

    # the same computation on real people: every continuous employee promoted and raised in the first year and in
    # the leap year 2028, from their start salary and events, to the cent
    merit_cola = ctx.rate("compensation.merit_budget") + ctx.rate("compensation.cola_rate")
    years = [y for y in (ctx.years[0], 2028) if y in ctx.years]
    people = ctx.rows("""
        select s.employee_id, s.simulation_year, s.start_salary, s.prorated_annual_compensation,
               s.full_year_equivalent_compensation, p.effective_date, p.previous_compensation,
               p.compensation_amount, r.effective_date, r.compensation_amount
        from snap s
        join fct_yearly_events p on p.employee_id = s.employee_id and p.simulation_year = s.simulation_year
                                and p.event_type = 'promotion'
        join fct_yearly_events r on r.employee_id = s.employee_id and r.simulation_year = s.simulation_year
                                and r.event_type = 'raise'
        where s.detailed_status_code = 'continuous_active' and list_contains($years, s.simulation_year)
        order by s.simulation_year, s.employee_id
    """, {"years": years})
    assert {row[1] for row in people} == set(years), f"no promoted+raised continuous employee in {years}"
    wrong = []
    for emp, year, start, prorated, fye, p_date, p_prev, p_pay, r_date, r_pay in people:
        expected, segments = prorate(start, [(p_date, p_pay), (r_date, r_pay)], date(year, 1, 1),
                                     date(year, 12, 31), year)
        expected_raise = round_half_up(p_pay * (1 + merit_cola), CENT)
        if (prorated, fye, p_prev, r_pay) != (expected, r_pay, start, expected_raise):
            wrong.append(f"{emp} {year}: start {start} (promotion from {p_prev}), promoted {p_date} to {p_pay}, "
                         f"raised {r_date} to {r_pay} (expected {expected_raise}); segments {segments}: prorated "
                         f"{prorated} vs {expected}; full-year equivalent {fye}")
    assert not wrong, f"[{ctx.name}] {len(wrong)} of {len(people)} people: " + "\n".join(wrong[:SHOW])

    # and on people whose year is cut short: new-hire and experienced terminations (a deterministic sample)
    others = ctx.rows("""
        with sample as (
            select * from snap
            where detailed_status_code in ('new_hire_termination', 'experienced_termination', 'new_hire_active')
            order by md5(employee_id || simulation_year) limit 300
        )
        select s.employee_id, s.simulation_year, s.is_hire_of_year, s.start_salary, s.employee_hire_date,
               s.termination_date, s.prorated_annual_compensation,
               list({'d': e.effective_date, 'pay': e.compensation_amount} order by e.event_sequence)
                   filter (where e.event_type in ('hire', 'promotion', 'raise')) as changes
        from sample s left join fct_yearly_events e using (employee_id, simulation_year)
        group by all
    """)
    assert {row[1] for row in others} == set(ctx.years), f"no short year to check in some of {ctx.years}"
    wrong = []
    for emp, year, is_hire, start, hired, terminated, prorated, changes in others:
        moves = [(c["d"], c["pay"]) for c in (changes or [])]
        expected, segments = prorate(None if is_hire else start, moves, max(hired, date(year, 1, 1)),
                                     terminated or date(year, 12, 31), year)
        if prorated != expected:
            wrong.append(f"{emp} {year}: hired {hired}, terminated {terminated}, start {start}, changes {moves}: "
                         f"prorated {prorated} vs {expected} ({segments})")
    assert not wrong, f"[{ctx.name}] {len(wrong)} of {len(others)} people: " + "\n".join(wrong[:SHOW])


# ------------------------------------------------------------------------------------------------ corruptions

# Each new check shown to fail: one deliberate corruption of a copy of the default run per case, on a person-year of
# the money sample (so invariants 12-13 see it too), and the exact set of invariants (among all of them) that
# report it. A moved enrollment or opt-out date also changes what the day-by-day rule gives, so invariant 12 (and
# 13 when the match follows the deferral) reports those people too: the stored amounts were computed on the old
# dates. (case: query picking (employee_id, year), corrupting SQL, catchers)
SAMPLED = "(employee_id, simulation_year) in (select * from sample_ids)"
CORRUPTIONS = {
    "match_plus_one_cent": (
        f"select employee_id, simulation_year from fct_workforce_snapshot where {SAMPLED} "
        "and employer_match_amount > 0 and not annual_additions_limit_applied",
        "update fct_workforce_snapshot set employer_match_amount = employer_match_amount + 0.01, "
        "total_employer_contributions = total_employer_contributions + 0.01 where employee_id = $id "
        "and simulation_year = $y",
        {"invariant_8_prorated_pay_and_contribution_limits", "invariant_13_match_and_core_recomputed",
         "invariant_17_employer_accounts_recomputed"}),  # 17: the stored account no longer holds that match
    "core_for_a_terminated_person": (
        f"select employee_id, simulation_year from fct_workforce_snapshot where {SAMPLED} "
        "and detailed_status_code = 'experienced_termination' and prorated_annual_compensation > 0",
        "update fct_workforce_snapshot set employer_core_amount = round(plan_compensation * 0.02, 2), "
        "total_employer_contributions = employer_match_amount + round(plan_compensation * 0.02, 2) "
        "where employee_id = $id and simulation_year = $y",
        {"invariant_8_prorated_pay_and_contribution_limits", "invariant_13_match_and_core_recomputed",
         "invariant_17_employer_accounts_recomputed"}),  # 17: nor that core
    "contribution_on_the_whole_year": (
        f"select employee_id, simulation_year from fct_workforce_snapshot where {SAMPLED} "
        "and detailed_status_code = 'new_hire_active' and employee_contribution > 0 and not irs_limit_applied",
        "update fct_workforce_snapshot set employee_contribution = round(current_compensation * "
        "current_deferral_rate, 2) where employee_id = $id and simulation_year = $y",
        {"invariant_12_employee_contribution_day_by_day"}),
    "enrollment_after_termination": (
        "select e.employee_id, e.simulation_year from fct_yearly_events e join fct_workforce_snapshot s "
        f"using (employee_id, simulation_year) where {SAMPLED} and e.event_type = 'enrollment' "
        "and s.termination_date < make_date(s.simulation_year, 12, 31) and not s.opted_out_flag",
        "update fct_yearly_events set effective_date = (select termination_date + 1 from fct_workforce_snapshot "
        "where employee_id = $id and simulation_year = $y) where employee_id = $id and simulation_year = $y "
        "and event_type = 'enrollment'",
        {"invariant_6_event_dates_and_sequence", "invariant_12_employee_contribution_day_by_day",
         "invariant_14_auto_enrollment_dates"}),
    "enrollment_a_day_late": (
        "select e.employee_id, e.simulation_year from fct_yearly_events e join fct_workforce_snapshot s "
        f"using (employee_id, simulation_year) where {SAMPLED} and e.event_type = 'enrollment' "
        "and s.termination_date is null and not s.opted_out_flag "
        "and e.effective_date < make_date(e.simulation_year, 12, 31)",
        "update fct_yearly_events set effective_date = effective_date + 1 where employee_id = $id "
        "and simulation_year = $y and event_type = 'enrollment'",
        {"invariant_12_employee_contribution_day_by_day", "invariant_13_match_and_core_recomputed",
         "invariant_14_auto_enrollment_dates"}),
    "re_enrollment_after_opt_out": (
        "select e.employee_id, e.simulation_year from fct_yearly_events e join fct_workforce_snapshot s "
        f"using (employee_id, simulation_year) where {SAMPLED} and e.event_type = 'enrollment_change' "
        "and s.termination_date is null and e.effective_date < make_date(e.simulation_year, 12, 31)",
        "insert into fct_yearly_events select * replace ('enrollment' as event_type, effective_date + 1 as "
        "effective_date, event_sequence + 1 as event_sequence, employee_deferral_rate as "
        "prev_employee_deferral_rate, prev_employee_deferral_rate as employee_deferral_rate) "
        "from fct_yearly_events where employee_id = $id and simulation_year = $y and event_type = 'enrollment_change'",
        {"invariant_9_deferral_rates_change_only_through_events", "invariant_12_employee_contribution_day_by_day",
         "invariant_14_auto_enrollment_dates", "invariant_15_opt_out_dates_and_re_enrollment"}),
    "opt_out_31_days_after_enrollment": (
        "select e.employee_id, e.simulation_year from fct_yearly_events e join fct_workforce_snapshot s "
        f"using (employee_id, simulation_year) where {SAMPLED} and e.event_type = 'enrollment' "
        "and s.termination_date is null "
        "and e.effective_date + 31 <= make_date(e.simulation_year, 12, 31) and exists (select 1 from "
        "fct_yearly_events o where o.employee_id = e.employee_id and o.simulation_year = e.simulation_year "
        "and o.event_type = 'enrollment_change')",
        "update fct_yearly_events o set effective_date = (select effective_date + 31 from fct_yearly_events e "
        "where e.employee_id = $id and e.simulation_year = $y and e.event_type = 'enrollment') "
        "where employee_id = $id and simulation_year = $y and event_type = 'enrollment_change'",
        {"invariant_12_employee_contribution_day_by_day", "invariant_15_opt_out_dates_and_re_enrollment"}),
    "plan_entry_a_day_late": (
        "select e.employee_id, e.simulation_year from fct_yearly_events e join fct_workforce_snapshot s "
        f"using (employee_id, simulation_year) where {SAMPLED} and e.event_type = 'eligibility' "
        "and s.termination_date is null and e.effective_date < make_date(e.simulation_year, 12, 1)",
        "update fct_yearly_events set effective_date = effective_date + 1 where employee_id = $id "
        "and simulation_year = $y and event_type = 'eligibility'",
        {"invariant_16_plan_entry"}),
    "continuing_employee_relabelled_a_new_hire": (
        "select a.employee_id, a.simulation_year from fct_workforce_snapshot a join fct_workforce_snapshot b "
        "on b.employee_id = a.employee_id and b.simulation_year = a.simulation_year + 1 "
        "where (a.employee_id, a.simulation_year) in (select * from sample_ids) and a.detailed_status_code = 'continuous_active' and b.detailed_status_code = 'continuous_active'",
        "update fct_workforce_snapshot set detailed_status_code = 'new_hire_active' where employee_id = $id "
        "and simulation_year = $y",
        {"invariant_5_pay_events_set_salary_and_carry_into_next_year"}),
    # a closing balance a cent off for a person who stays on (the next year opens from the right one): the
    # recomputed account chain no longer agrees with the stored row
    "closing_balance_one_cent_off": (
        "select a.employee_id, a.simulation_year from fct_employer_accounts a join fct_employer_accounts b "
        "on b.employee_id = a.employee_id and b.source = a.source and b.simulation_year = a.simulation_year + 1 "
        "where (a.employee_id, a.simulation_year) in (select * from sample_ids) and a.source = 'match'",
        "update fct_employer_accounts set closing_balance = closing_balance + 0.01 where employee_id = $id "
        "and simulation_year = $y and source = 'match'",
        {"invariant_17_employer_accounts_recomputed"}),
    # forfeitures used that were never there: one year's cost row (picked as (year as text, year), so the report
    # names it)
    "forfeitures_used_plus_one_dollar": (
        "select CAST(simulation_year AS VARCHAR), simulation_year from fct_employer_cost "
        "where simulation_year > (select min(simulation_year) from fct_employer_cost)",
        "update fct_employer_cost set forfeitures_used = forfeitures_used + 1.00 where simulation_year = $y "
        "and CAST(simulation_year AS VARCHAR) = $id",
        {"invariant_17_employer_accounts_recomputed"}),
    # an HCE status the look-back pay does not give: one sampled person-year's is_hce flipped
    "hce_status_flipped": (
        "select employee_id, simulation_year from sample_ids",
        "update fct_workforce_snapshot set is_hce = not is_hce where employee_id = $id and simulation_year = $y",
        {"invariant_18_nondiscrimination_recomputed"}),
    # a test's margin a hundredth of a point off (picked as (test, year), so the report names the test)
    "adp_margin_off": (
        "select test, simulation_year from fct_nondiscrimination where test = 'ADP'",
        "update fct_nondiscrimination set margin = margin + 0.0001 where test = $id and simulation_year = $y",
        {"invariant_18_nondiscrimination_recomputed"}),
    # the engine giving nobody an opt-out (the opted-out people left enrolled at the default rate, the events of
    # their year renumbered): every check that reads only the opt-outs there are passes on an empty set; the draw
    # says who must opt out
    "no_opt_out_at_all": (
        "select e.employee_id, e.simulation_year from fct_yearly_events e join fct_workforce_snapshot s "
        f"using (employee_id, simulation_year) where {SAMPLED} and e.event_type = 'enrollment_change' "
        "and s.employer_match_amount > 0",
        "delete from fct_yearly_events where event_type = 'enrollment_change'; "
        "update fct_yearly_events e set event_sequence = r.k from (select employee_id, simulation_year, "
        "event_sequence as old, row_number() over (partition by employee_id, simulation_year order by "
        "event_sequence) as k from fct_yearly_events) r where r.employee_id = e.employee_id "
        "and r.simulation_year = e.simulation_year and r.old = e.event_sequence; "
        "update fct_workforce_snapshot set opted_out_flag = false, current_deferral_rate = 0.06 where opted_out_flag",
        {"invariant_12_employee_contribution_day_by_day", "invariant_13_match_and_core_recomputed",
         "invariant_15_opt_out_dates_and_re_enrollment"}),
}


@pytest.fixture(scope="module")
def sampled(planwise_run) -> tuple:
    """The default run and the (employee, year) of its money sample: the people a corruption may pick."""
    run = planwise_run(**RUNS["default_5k"])
    assert run.status == "success", run.stderr
    shared = inv.open_context(run, "sample")
    try:
        return run, [(m.employee_id, m.year) for m in inv.recompute_money(shared)]
    finally:
        shared.con.close()


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corruption_is_caught_by_its_invariant(sampled, planwise_isolated_db, case):
    """A check that cannot fail proves nothing: each corruption must be reported, naming the corrupted employee,
    by exactly the invariants listed for it (all others still hold on the corrupted copy)."""
    run, sample = sampled
    pick, corrupt, catchers = CORRUPTIONS[case]
    copy = planwise_isolated_db(run)
    with duckdb.connect(str(copy)) as con:
        con.execute("create temp table sample_ids as select * from (values " +
                    ", ".join(f"('{emp}', {year})" for emp, year in sample) + ") t(employee_id, simulation_year)")
        target = con.execute(pick + " order by 2, 1 limit 1").fetchone()
        assert target, f"{case}: no person to corrupt"
        con.execute(corrupt, {"id": target[0], "y": target[1]} if "$" in corrupt else None)  # one, or all of them
    ctx = inv.open_context(dataclasses.replace(run, db_path=copy), f"corrupted: {case}")
    try:
        caught = {f.__name__: report(f(ctx)) for f in inv.INVARIANTS}
    finally:
        ctx.con.close()
    assert {name for name, text in caught.items() if text} == catchers, caught
    for name in catchers:
        assert target[0] in caught[name], f"{name} did not name {target[0]}:\n{caught[name]}"


def test_no_auto_enrollment_at_all_is_caught_by_invariant_14(sampled, planwise_isolated_db):
    """Auto-enrollment on and eligible hires every year, but no enrollment (nor opt-out) event: the engine leaving
    everyone out must be reported, naming who was due, not pass on an empty set of enrollments."""
    run, _ = sampled
    copy = planwise_isolated_db(run)
    with duckdb.connect(str(copy)) as con:
        (first,) = con.execute("select employee_id from fct_yearly_events where event_type = 'enrollment' "
                               "order by simulation_year, employee_id limit 1").fetchone()
        con.execute("delete from fct_yearly_events where event_type in ('enrollment', 'enrollment_change')")
    ctx = inv.open_context(dataclasses.replace(run, db_path=copy), "no enrollment")
    try:
        problems = report(inv.invariant_14_auto_enrollment_dates(ctx))
    finally:
        ctx.con.close()
    assert "'side': 'missing'" in problems and first in problems, problems


def test_a_population_with_no_continuing_pairs_owes_no_pay_growth(planwise_run):
    """The property test's failing draw: 60 people, seed 0, a 97.3 % termination rate. Nobody is continuous_active
    in both 2025 and 2026 (2025's one continuing employee leaves in 2026), so no pay growth can be measured, and
    invariant 5 must not ask for one."""
    run = planwise_run(years="2025-2026", employees=60, seed=0,
                       overrides={"workforce.total_termination_rate": 0.973})
    assert run.status == "success", run.stderr
    ctx = inv.open_context(run, "no continuing pairs")
    try:
        assert ctx.rows("select count(*) from fct_workforce_snapshot a join fct_workforce_snapshot b "
                        "using (employee_id) where a.simulation_year = 2025 and b.simulation_year = 2026 "
                        "and a.detailed_status_code = b.detailed_status_code "
                        "and a.detailed_status_code = 'continuous_active'") == [(0,)]
        assert ctx.rows("select count(*) from fct_workforce_snapshot where simulation_year = 2025 "
                        "and detailed_status_code = 'continuous_active'") == [(1,)]
        problems = inv.invariant_5_pay_events_set_salary_and_carry_into_next_year(ctx)
    finally:
        ctx.con.close()
    assert not problems, report(problems)
