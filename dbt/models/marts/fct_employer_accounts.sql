{{ config(materialized='year_slice') }}
{#
  Employer-money accounts (docs/simulation.md "Vesting and forfeitures"): one row per person employed in year Y and
  source (match, core, and reallocation under forfeitures.use reallocate). Opening = last year's closing (first year: the census balance, 0 for a hire); earnings =
  accounts.annual_return x opening; balance = opening + the year's contributions + earnings; vested = the source's
  vested share of the balance; a person who terminates in Y forfeits the rest, and closes at the vested balance.
  Reallocation: the forfeitures carried into Y (fct_employer_cost of Y-1) go to the people active on Dec 31 of Y
  with plan pay, pro rata to it, in whole cents (floor, then a cent each to the largest remainders, ties by
  employee_id), vested as the core. Relations are resolved outside the branches so dbt records every dependency.
#}
{% set census = ref('stg_census_data') %}
{% set previous = source('simulation_state', 'fct_employer_accounts') %}
{% set previous_cost = source('simulation_state', 'fct_employer_cost') %}
{% set reallocates = var('forfeitures__use') == 'reallocate' %}
{% set sources = ['match', 'core'] + (['reallocation'] if reallocates else []) %}

with people as (
    select employee_id, termination_date, vesting_service_years, employer_match_amount, employer_core_amount,
           plan_compensation
    from {{ ref('fct_workforce_snapshot') }}
    where simulation_year = {{ sim_year() }}
),

opening as (
{% if sim_year() | int == start_year() | int %}
    select employee_id, 'match' as source, employer_match_balance as balance from {{ census }} where is_start_population
    union all
    select employee_id, 'core', employer_core_balance from {{ census }} where is_start_population
{% else %}
    select employee_id, source, closing_balance as balance from {{ previous }}
    where simulation_year = {{ sim_year() }} - 1
{% endif %}
),

pool as (
{% if reallocates and sim_year() | int > start_year() | int %}
    select CAST(coalesce(sum(forfeiture_balance), 0) * 100 AS HUGEINT) as pool_cents from {{ previous_cost }}
    where simulation_year = {{ sim_year() }} - 1
{% else %}
    select CAST(0 AS HUGEINT) as pool_cents
{% endif %}
),

shares as (
    select employee_id, CAST(plan_compensation * 100 AS HUGEINT) as weight, sum(weight) over () as total
    from people where termination_date is null and plan_compensation > 0
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
),

accounts as (
    select
        p.employee_id,
        s.source,
        p.termination_date,
        p.vesting_service_years,
        CAST(coalesce(o.balance, 0) AS DECIMAL(14, 2)) as opening_balance,
        CASE s.source WHEN 'match' THEN p.employer_match_amount WHEN 'core' THEN p.employer_core_amount
                      ELSE coalesce(a.allocated, 0) END as contributions,
        {{ money('coalesce(o.balance, 0) * ' ~ var('accounts__annual_return')) }} as earnings,
        CAST(100 * CASE s.source WHEN 'match' THEN {{ vested_share('match', 'p.vesting_service_years') }}
                                 ELSE {{ vested_share('core', 'p.vesting_service_years') }} END AS DECIMAL(7, 4))
            as vested_percent
    from people p
    cross join (values {% for source in sources %}('{{ source }}'){{ ', ' if not loop.last }}{% endfor %}) as s(source)
    left join opening o on o.employee_id = p.employee_id and o.source = s.source
    left join allocation a on a.employee_id = p.employee_id and s.source = 'reallocation'
),

valued as (
    select
        *,
        opening_balance + contributions + earnings as balance,
        {{ money('(opening_balance + contributions + earnings) * vested_percent / 100') }} as vested_balance
    from accounts
)

select
    employee_id,
    CAST({{ sim_year() }} AS INTEGER) as simulation_year,
    source,
    opening_balance,
    CAST(contributions AS DECIMAL(14, 2)) as contributions,
    earnings,
    vested_percent,
    vested_balance,
    CAST(CASE WHEN termination_date is not null THEN balance - vested_balance ELSE 0 END AS DECIMAL(14, 2))
        as forfeited_amount,
    CAST(CASE WHEN termination_date is not null THEN vested_balance ELSE balance END AS DECIMAL(14, 2))
        as closing_balance
from valued
