{{ config(materialized='year_slice') }}
{#
  The employer's cost of year Y, gross and net of forfeitures (docs/simulation.md "Vesting and forfeitures"): one
  row per year. Forfeitures arising in Y (fct_employer_accounts) are carried into Y+1. forfeitures.use
  reduce_employer_contributions: the balance carried into Y pays the year's match and core up to their total
  (never below 0), the rest is carried on; pay_plan_expenses: the forfeitures of Y pay the plan's expenses of Y+1
  and reduce no contribution; reallocate: the balance carried into Y goes to the accounts of the people active on
  Dec 31 of Y (fct_employer_accounts, source reallocation) and reduces no contribution.
  net_employer_cost = match + core - forfeitures_used.
#}
{% set previous = source('simulation_state', 'fct_employer_cost') %}
{% set reduces = var('forfeitures__use') == 'reduce_employer_contributions' %}

with gross as (
    select coalesce(sum(employer_match_amount), 0) as employer_match, coalesce(sum(employer_core_amount), 0) as employer_core
    from {{ ref('fct_workforce_snapshot') }}
    where simulation_year = {{ sim_year() }}
),

arising as (
    select coalesce(sum(forfeited_amount), 0) as forfeitures,
           coalesce(sum(contributions) filter (where source = 'reallocation'), 0) as forfeitures_reallocated
    from {{ ref('fct_employer_accounts') }}
    where simulation_year = {{ sim_year() }}
),

carried as (
{% if sim_year() | int == start_year() | int %}
    select CAST(0 AS DECIMAL(18, 2)) as carried_in
{% else %}
    select coalesce(sum(forfeiture_balance), 0) as carried_in from {{ previous }}
    where simulation_year = {{ sim_year() }} - 1
{% endif %}
),

used as (
    select *, {{ 'least(carried_in, employer_match + employer_core)' if reduces else '0' }} as forfeitures_used
    from gross, arising, carried
)

select
    CAST({{ sim_year() }} AS INTEGER) as simulation_year,
    CAST(employer_match AS DECIMAL(18, 2)) as employer_match,
    CAST(employer_core AS DECIMAL(18, 2)) as employer_core,
    CAST(employer_match + employer_core AS DECIMAL(18, 2)) as gross_employer_cost,
    CAST(forfeitures AS DECIMAL(18, 2)) as forfeitures,
    CAST(carried_in AS DECIMAL(18, 2)) as forfeitures_available,
    CAST(forfeitures_used AS DECIMAL(18, 2)) as forfeitures_used,
    CAST(forfeitures_reallocated AS DECIMAL(18, 2)) as forfeitures_reallocated,
    CAST({{ 'forfeitures' if var('forfeitures__use') == 'pay_plan_expenses'
            else 'carried_in - forfeitures_used - forfeitures_reallocated + forfeitures' }} AS DECIMAL(18, 2))
        as forfeiture_balance,
    CAST(employer_match + employer_core - forfeitures_used AS DECIMAL(18, 2)) as net_employer_cost
from used
