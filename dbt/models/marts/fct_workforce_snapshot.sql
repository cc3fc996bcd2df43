{{ config(materialized='year_slice') }}
{#
  One row per person employed at any time in year Y (simulation.md 4). Its active rows are exactly the start
  population of year Y+1; full_year_equivalent_compensation is next year's starting salary.
#}
with state as (
    select * from {{ ref('int_employee_year_state') }}
),

contributions as (
    select * from {{ ref('int_employee_contributions') }}
)

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
    c.employee_contribution,
    c.employer_match_amount,
    c.employer_core_amount,
    CAST(c.employer_match_amount + c.employer_core_amount AS DECIMAL(14, 2)) as total_employer_contributions,
    c.irs_limit_applied,
    c.plan_compensation,
    c.annual_additions_limit_applied,
    c.employer_match_true_up
from state s
join contributions c using (employee_id)
