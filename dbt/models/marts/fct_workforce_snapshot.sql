{{ config(materialized='year_slice') }}
{#
  One row per person employed at any time in year Y (simulation.md 4). Its active rows are exactly the start
  population of year Y+1; full_year_equivalent_compensation is next year's starting salary.
  opening_*_balance: the employer-money accounts on Jan 1 of Y (fct_employer_accounts states the year's steps).
  reallocated_forfeitures (forfeitures.use reallocate, else 0; docs/simulation.md "Vesting and forfeitures"): the
  forfeitures carried into Y (fct_employer_cost of Y-1) go to the people active on Dec 31 of Y with plan pay, pro
  rata to it, in whole cents (floor, then a cent each to the largest remainders, ties by employee_id).
  opted_out_flag: the person opted out after an auto-enrollment and has not enrolled since; opt_out_year: the year
  of that opt-out (kept after a voluntary enrollment ends it; docs/simulation.md "Voluntary enrollment").
  is_hce: paid more than the HCE threshold of Y - 1 in Y - 1 (int_employee_compensation_by_year's
  lookback_compensation; a hire is no HCE in the hire year).
  The relation of last year's cost is resolved outside the branch so dbt records the dependency.
#}
{% set previous_cost = source('simulation_state', 'fct_employer_cost') %}
{% set reallocates = var('forfeitures__use') == 'reallocate' and sim_year() | int > start_year() | int %}

with state as (
    select * from {{ ref('int_employee_year_state') }}
),

contributions as (
    select * from {{ ref('int_employee_contributions') }}
){% if reallocates %},

pool as (
    select CAST(coalesce(sum(forfeiture_balance), 0) * 100 AS HUGEINT) as pool_cents from {{ previous_cost }}
    where simulation_year = {{ sim_year() }} - 1
),

shares as (
    select s.employee_id, CAST(c.plan_compensation * 100 AS HUGEINT) as weight, sum(weight) over () as total
    from state s join contributions c using (employee_id)
    where s.termination_date is null and c.plan_compensation > 0
),

allocation as (
    select employee_id,
           CAST(CAST(base + CASE WHEN rank <= left_over THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(14, 2))
               as allocated
    from (
        select
            employee_id,
            pool_cents * weight // total as base,
            pool_cents - sum(pool_cents * weight // total) over () as left_over,
            row_number() over (order by (pool_cents * weight) % total desc, employee_id) as rank
        from shares, pool
    )
){% endif %}

select
    s.employee_id,
    s.employee_ssn,
    s.employee_birth_date,
    s.employee_hire_date,
    CAST(s.simulation_year AS INTEGER) as simulation_year,
    CAST(s.level_id AS INTEGER) as level_id,
    CAST(s.current_age AS INTEGER) as current_age,
    CAST(s.current_tenure AS INTEGER) as current_tenure,
    {{ age_band('s.current_age') }} as age_band,
    {{ tenure_band('s.current_tenure') }} as tenure_band,
    s.vesting_service_years,
    CASE WHEN s.termination_date is null THEN 'active' ELSE 'terminated' END as employment_status,
    CASE
        WHEN s.is_new_hire and s.termination_date is not null THEN 'new_hire_termination'
        WHEN s.is_new_hire THEN 'new_hire_active'
        WHEN s.termination_date is not null THEN 'experienced_termination'
        ELSE 'continuous_active'
    END as detailed_status_code,
    s.termination_date,
    CAST(s.current_compensation AS DECIMAL(14, 2)) as current_compensation,
    CAST(s.current_compensation AS DECIMAL(14, 2)) as full_year_equivalent_compensation,
    s.prorated_annual_compensation,
    s.current_deferral_rate > 0 as is_enrolled_flag,
    s.current_deferral_rate,
    s.enrollment_date,
    s.opted_out_flag,
    CAST(s.opt_out_year AS INTEGER) as opt_out_year,
    c.employee_contribution,
    c.employer_match_amount,
    c.employer_core_amount,
    CAST(c.employer_match_amount + c.employer_core_amount AS DECIMAL(14, 2)) as total_employer_contributions,
    c.irs_limit_applied,
    c.plan_compensation,
    c.annual_additions_limit_applied,
    c.employer_match_true_up,
    CAST(s.opening_match_balance AS DECIMAL(14, 2)) as opening_match_balance,
    CAST(s.opening_core_balance AS DECIMAL(14, 2)) as opening_core_balance,
    CAST(s.opening_reallocation_balance AS DECIMAL(14, 2)) as opening_reallocation_balance,
    CAST({{ 'coalesce(a.allocated, 0)' if reallocates else '0' }} AS DECIMAL(14, 2)) as reallocated_forfeitures,
    s.is_hce
from state s
join contributions c using (employee_id)
{% if reallocates %}left join allocation a using (employee_id){% endif %}
