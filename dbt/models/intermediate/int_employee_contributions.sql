{#
  Contributions of year Y (simulation.md 5). Employee: prorated pay x year-end deferral rate, capped at the IRS
  402(g) limit (catch-up total at age >= 50). Employer match and core only for people active at year end with at
  least minimum_hours (2,080 x days employed / days in year). A year without an IRS limit row fails the model.
#}
{% set match_rate = var('employer_match__rate') %}
{% set max_match = var('employer_match__max_match_percentage') %}
{% set core_rate = var('employer_core_contribution__rate') if var('employer_core_contribution__enabled') else 0 %}

with state as (
    select * from {{ ref('int_employee_year_state') }}
),

irs as (
    select base_limit, catch_up_limit from {{ ref('config_irs_limits') }} where limit_year = {{ sim_year() }}
),

limited as (
    select
        s.employee_id,
        s.prorated_annual_compensation,
        s.termination_date is null
            and 2080.0 * s.days_employed / {{ days_in_year() }} >= {{ var('employer_core_contribution__minimum_hours') }}
            as employer_eligible,
        s.prorated_annual_compensation * s.current_deferral_rate as requested_contribution,
        {{ guarded('CASE WHEN s.current_age >= 50 THEN irs.catch_up_limit ELSE irs.base_limit END',
                   'irs.base_limit is null',
                   "'config_irs_limits has no row for " ~ sim_year() ~ ": add the year to dbt/seeds/config_irs_limits.csv'") }} as irs_limit
    from state s
    left join irs on true
),

employee as (
    select
        *,
        {{ money('least(requested_contribution, irs_limit)') }} as employee_contribution,
        requested_contribution > irs_limit as irs_limit_applied
    from limited
)

select
    employee_id,
    {{ sim_year() }} as simulation_year,
    employee_contribution,
    irs_limit_applied,
    irs_limit,
    employer_eligible,
    CASE WHEN employer_eligible THEN {{ money('least(employee_contribution * ' ~ match_rate ~ ', prorated_annual_compensation * ' ~ max_match ~ ' * ' ~ match_rate ~ ')') }}
         ELSE CAST(0 AS DECIMAL(14, 2)) END as employer_match_amount,
    CASE WHEN employer_eligible THEN {{ money('prorated_annual_compensation * ' ~ core_rate) }}
         ELSE CAST(0 AS DECIMAL(14, 2)) END as employer_core_amount
from employee
