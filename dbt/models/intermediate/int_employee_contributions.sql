{#
  Contributions of year Y (simulation.md 5, docs/simulation.md "Contributions").
  Employee: the day-by-day requested deferral (int_employee_year_state), capped at the 402(g) limit for the age
  attained by Dec 31 (Y - birth year): 50+ base + catch-up, 60-63 base + the higher catch-up.
  Employer match and core (the formulas of match_formulas.sql and core_formulas.sql) on plan compensation =
  prorated pay capped at the 401(a)(17) limit, each for the people its conditions admit (employer_eligibility.sql:
  hours, years of service, employed on Dec 31).
  415(c): employee deferrals without their catch-up part plus match plus core never exceed the annual additions
  limit; the employee's deferral is kept, the match is cut first, then the core.
  A year without an IRS limit row fails the model.
#}

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

formula as (
    select
        *,
        CASE WHEN match_eligible THEN {{ money(match_formula('employee_contribution', 'plan_compensation', 'current_tenure')) }}
             ELSE CAST(0 AS DECIMAL(14, 2)) END as match_formula,
        CASE WHEN core_eligible THEN {{ money(core_formula('plan_compensation', 'current_age', 'current_tenure', guarded('taxable_wage_base', 'taxable_wage_base is null', "'config_ss_wage_base has no row for " ~ sim_year() ~ ": add the year to dbt/seeds/config_ss_wage_base.csv'"))) }}
             ELSE CAST(0 AS DECIMAL(14, 2)) END as core_formula,
        -- room left under 415(c) once the employee's deferral without its catch-up part is counted
        greatest(0, annual_additions_limit - least(employee_contribution, base_limit)) as additions_room
    from employee
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
    -- 415(c) cuts the match first: the core keeps what fits, the match gets the room that is left
    CAST(least(match_formula, additions_room - least(core_formula, additions_room)) AS DECIMAL(14, 2)) as employer_match_amount,
    CAST(least(core_formula, additions_room) AS DECIMAL(14, 2)) as employer_core_amount,
    match_formula + core_formula > additions_room as annual_additions_limit_applied
from formula
