{#
  Contributions of year Y (simulation.md 5, docs/simulation.md "Contributions").
  Employee: the day-by-day requested deferral (int_employee_year_state), capped at the 402(g) limit for the age
  attained by Dec 31 (Y - birth year): 50+ base + catch-up, 60-63 base + the higher catch-up.
  Employer match and core (the formulas of match_formulas.sql and core_formulas.sql) on plan compensation =
  prorated pay capped at the 401(a)(17) limit, each for the people its conditions admit (employer_eligibility.sql:
  hours, years of service, employed on Dec 31).
  415(c): employee deferrals without their catch-up part plus match plus core never exceed the annual additions
  limit; the employee's deferral is kept, the match is cut first, then the core.
  Match per pay period (docs/simulation.md "Match per pay period and true-up"): the formula on each of the P pay
  periods' pay and deferral (cumulative 402(g) and 401(a)(17) limits), summed and rounded once; computed only for
  people whose deferral is not the same share of pay in every period (the others get the annual formula).
  employer_match__true_up true: the match is the annual formula and employer_match_true_up the difference.
  A year without an IRS limit row fails the model.
#}
{%- set periods = var('payroll__periods_per_year') | int -%}
{%- set true_up = var('employer_match__true_up') -%}
{#- money of a period in units of 1 / (1,000,000 x D x P) dollars: cents x rate in basis points x 1/P of a day -#}
{%- set units_per_dollar = '(1000000 * ' ~ periods ~ ' * ' ~ days_in_year() ~ ')' %}

with state as (
    select * from {{ ref('int_employee_year_state') }}
),

irs as (
    select * from {{ ref('config_irs_limits') }} where limit_year = {{ sim_year() }}
),

wage_base as (
    select taxable_wage_base from {{ ref('config_ss_wage_base') }} where wage_year = {{ sim_year() }}
),

limited as (
    select
        s.employee_id,
        s.requested_contribution,
        s.current_tenure,
        s.current_age,
        w.taxable_wage_base,
        {{ sim_year() }} - year(s.employee_birth_date) as catch_up_age,
        irs.base_limit,
        irs.annual_additions_limit,
        irs.compensation_limit,
        s.prorated_annual_compensation,
        s.deferral_rate_changed,
        least(s.prorated_annual_compensation, irs.compensation_limit) as plan_compensation,
        {{ employer_money_eligible('match', 's.days_employed', 's.current_tenure', 's.termination_date') }} as match_eligible,
        {{ employer_money_eligible('core', 's.days_employed', 's.current_tenure', 's.termination_date') }} as core_eligible,
        {{ guarded('irs.base_limit + CASE WHEN ' ~ sim_year() ~ ' - year(s.employee_birth_date) between 60 and 63 THEN irs.catch_up_60_63
                                          WHEN ' ~ sim_year() ~ ' - year(s.employee_birth_date) >= 50 THEN irs.catch_up_50 ELSE 0 END',
                   'irs.base_limit is null',
                   "'config_irs_limits has no row for " ~ sim_year() ~ ": add the year to dbt/seeds/config_irs_limits.csv'") }} as irs_limit
    from state s
    left join irs on true
    left join wage_base w on true
),

employee as (
    select
        *,
        least(requested_contribution, irs_limit) as employee_contribution,
        requested_contribution > irs_limit as irs_limit_applied
    from limited
),

by_period as (
    -- people whose deferral is not the same share of pay in every pay period: more than one rate over their
    -- employed days, the 402(g) limit reached or prorated pay above the 401(a)(17) limit. Everybody else's match
    -- per period sums to the annual formula (every tier scales with pay), so theirs is not computed per period.
    select e.employee_id, e.current_tenure,
           e.prorated_annual_compensation >= e.compensation_limit as each_period_apart,
           CAST(e.irs_limit AS HUGEINT) * {{ units_per_dollar }} as deferral_limit,
           CAST(e.compensation_limit AS HUGEINT) * {{ units_per_dollar }} as pay_limit
    from employee e
    where e.match_eligible
      and (e.deferral_rate_changed or e.irs_limit_applied or e.prorated_annual_compensation > e.compensation_limit)
),

stretches as (
    -- their day stretches of constant salary and deferral rate (int_employee_pay_periods, kept by
    -- int_employee_year_state), as [first, last + 1) in 1/P of a day from Jan 1, with the first and last pay period
    -- they touch (period k is [(k - 1) D, k D) in 1/P of a day, so a day on a boundary is shared by share)
    select
        *,
        from_unit // {{ days_in_year() }} + 1 as first_period,
        (to_unit + {{ days_in_year() }} - 1) // {{ days_in_year() }} as last_period
    from (
        select
            employee_id,
            b.each_period_apart,
            CAST(stretch.salary * 100 AS HUGEINT) as cents,
            CAST(stretch.deferral_rate * 10000 AS HUGEINT) as basis_points,
            {{ periods }} * (stretch.period_start - {{ year_start() }}) as from_unit,
            {{ periods }} * (stretch.period_end - {{ year_start() }} + 1) as to_unit
        from (select employee_id, unnest(pay_stretches) as stretch
              from state where employee_id in (select employee_id from by_period))
        join by_period b using (employee_id)
    )
),

pieces as (
    -- a stretch's first and last period (whole or not) each on its own, and the whole periods between them as one
    -- run of n alike periods (n of 1 each for a person at the 401(a)(17) limit, whose plan pay stops mid-run)
    select employee_id, cents, basis_points, first_period as k, 1 as n,
           least(to_unit, first_period * {{ days_in_year() }}) - from_unit as overlap
    from stretches
    union all
    select employee_id, cents, basis_points, last_period, 1, to_unit - (last_period - 1) * {{ days_in_year() }}
    from stretches where last_period > first_period
    union all
    select employee_id, cents, basis_points, first_period + 1, last_period - first_period - 1, {{ days_in_year() }}
    from stretches where last_period - first_period > 1 and not each_period_apart
    union all
    select employee_id, cents, basis_points, k, 1, {{ days_in_year() }}
    from (select *, unnest(generate_series(first_period + 1, last_period - 1)) as k
          from stretches where last_period - first_period > 1 and each_period_apart)
),

period_pay as (
    -- pay and requested deferral of a period (of each period of a run), exact, in units of 1 / (1,000,000 x P x D)
    -- dollars; a period shared by two stretches adds both
    select employee_id, k, 1 as n, sum(cents * 10000 * overlap) as pay, sum(cents * basis_points * overlap) as requested
    from pieces where n = 1 and overlap > 0
    group by employee_id, k
    union all
    select employee_id, k, n, cents * 10000 * overlap, cents * basis_points * overlap
    from pieces where n > 1
),

period_limited as (
    -- cumulative limits, period by period in order: a period defers its request until the 402(g) limit leaves less
    -- (room: the limit less the earlier periods' requests), so a run of n alike periods has `whole` periods at its
    -- request, then one at what is left, then none; plan pay is what the 401(a)(17) limit leaves after the earlier
    -- periods' pay (reached only by people whose periods are all apart)
    select
        *,
        CASE WHEN requested = 0 THEN n ELSE least(n, room // requested) END as whole
    from (
        select
            p.employee_id, p.n, p.requested, b.current_tenure,
            greatest(0, b.deferral_limit - coalesce(sum(p.n * p.requested) over earlier, 0)) as room,
            least(p.pay, greatest(0, b.pay_limit - coalesce(sum(p.n * p.pay) over earlier, 0))) as plan_pay
        from period_pay p join by_period b using (employee_id)
        window earlier as (partition by p.employee_id order by p.k rows between unbounded preceding and 1 preceding)
    )
),

period_match as (
    -- the tiers on each period (exact decimals in the same units), summed, then rounded once to the cent, half up
    -- (the sum is >= 0): cents = floor((2 x sum + 10,000 x P x D) / (2 x 10,000 x P x D))
    select
        employee_id,
        CAST((CAST(floor(2 * sum(match)) AS HUGEINT) + 10000 * {{ periods }} * {{ days_in_year() }})
             // (2 * 10000 * {{ periods }} * {{ days_in_year() }}) AS DECIMAL(18, 0)) * 0.01 as match_sum
    from (
        select
            employee_id,
            whole * {{ match_formula('CAST(requested AS DECIMAL(38, 0))', 'CAST(plan_pay AS DECIMAL(38, 0))',
                                     'current_tenure', capped=false) }}
            + CASE WHEN whole < n THEN {{ match_formula('CAST(room - whole * requested AS DECIMAL(38, 0))',
                                                        'CAST(plan_pay AS DECIMAL(38, 0))', 'current_tenure',
                                                        capped=false) }}
                   ELSE 0 END as match
        from period_limited
    )
    group by employee_id
),

formula as (
    select
        e.*,
        CASE WHEN match_eligible THEN {{ money(match_formula('employee_contribution', 'plan_compensation', 'current_tenure')) }}
             ELSE CAST(0 AS DECIMAL(14, 2)) END as match_formula,
        {%- set cap = var('employer_match__max_match_amount') %}
        CASE WHEN not match_eligible THEN CAST(0 AS DECIMAL(14, 2))
             WHEN m.employee_id is null THEN {{ money(match_formula('employee_contribution', 'plan_compensation', 'current_tenure')) }}
             ELSE {{ money('m.match_sum' if cap is none else 'least(m.match_sum, ' ~ cap ~ ')') }} END as period_match_formula,
        CASE WHEN core_eligible THEN {{ money(core_formula('plan_compensation', 'current_age', 'current_tenure', guarded('taxable_wage_base', 'taxable_wage_base is null', "'config_ss_wage_base has no row for " ~ sim_year() ~ ": add the year to dbt/seeds/config_ss_wage_base.csv'"))) }}
             ELSE CAST(0 AS DECIMAL(14, 2)) END as core_formula,
        -- room left under 415(c) once the employee's deferral without its catch-up part is counted
        greatest(0, annual_additions_limit - least(employee_contribution, base_limit)) as additions_room
    from employee e
    left join period_match m using (employee_id)
),

cut as (
    -- 415(c) cuts the match first: the core keeps what fits, the match gets the room that is left
    select
        *,
        least(core_formula, additions_room) as core_kept,
        least(match_formula, additions_room - least(core_formula, additions_room)) as annual_match,
        least(period_match_formula, additions_room - least(core_formula, additions_room)) as period_match
    from formula
)

select
    employee_id,
    {{ sim_year() }} as simulation_year,
    CAST(employee_contribution AS DECIMAL(14, 2)) as employee_contribution,
    irs_limit_applied,
    irs_limit,
    catch_up_age,
    CAST(plan_compensation AS DECIMAL(14, 2)) as plan_compensation,
    match_eligible or core_eligible as employer_eligible,
    match_eligible,
    core_eligible,
{%- if true_up %}
    CAST(annual_match AS DECIMAL(14, 2)) as employer_match_amount,
    CAST(core_kept AS DECIMAL(14, 2)) as employer_core_amount,
    match_formula + core_formula > additions_room as annual_additions_limit_applied,
    CAST(annual_match - period_match AS DECIMAL(14, 2)) as employer_match_true_up
{%- else %}
    CAST(period_match AS DECIMAL(14, 2)) as employer_match_amount,
    CAST(core_kept AS DECIMAL(14, 2)) as employer_core_amount,
    period_match_formula + core_formula > additions_room as annual_additions_limit_applied,
    CAST(0 AS DECIMAL(14, 2)) as employer_match_true_up
{%- endif %}
from cut
