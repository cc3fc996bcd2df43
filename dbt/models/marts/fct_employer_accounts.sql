{{ config(materialized='year_slice') }}
{#
  Employer-money accounts (docs/simulation.md "Vesting and forfeitures"): one row per person employed in year Y and
  source (match, core, and reallocation under forfeitures.use reallocate), read from the year's snapshot, which
  carries each account's opening balance (last year's closing, first year the census balance, 0 for a hire) and
  the reallocated forfeitures. Earnings and the balance follow employer_accounts.sql; vested = the source's vested
  share of the balance (reallocated money vests as the core); a person who terminates in Y forfeits the rest and
  closes at the vested balance.
#}
{% set reallocates = var('forfeitures__use') == 'reallocate' %}
{% set accounts = [('match', 'opening_match_balance', 'employer_match_amount', 'match'),
                   ('core', 'opening_core_balance', 'employer_core_amount', 'core')]
                  + ([('reallocation', 'opening_reallocation_balance', 'reallocated_forfeitures', 'core')]
                     if reallocates else []) %}

with people as (
    select * from {{ ref('fct_workforce_snapshot') }} where simulation_year = {{ sim_year() }}
),

accounts as (
{% for source, opening, contributions, vesting in accounts %}
    select
        employee_id,
        '{{ source }}' as source,
        termination_date,
        {{ opening }} as opening_balance,
        {{ contributions }} as contributions,
        {{ account_earnings(opening) }} as earnings,
        {{ account_balance(opening, contributions) }} as balance,
        CAST(100 * {{ vested_share(vesting, 'vesting_service_years') }} AS DECIMAL(7, 4)) as vested_percent
    from people
    {{ 'union all' if not loop.last }}
{% endfor %}
),

valued as (
    select *, {{ money('balance * vested_percent / 100') }} as vested_balance from accounts
)

select
    employee_id,
    CAST({{ sim_year() }} AS INTEGER) as simulation_year,
    source,
    CAST(opening_balance AS DECIMAL(14, 2)) as opening_balance,
    CAST(contributions AS DECIMAL(14, 2)) as contributions,
    earnings,
    vested_percent,
    vested_balance,
    CAST(CASE WHEN termination_date is not null THEN balance - vested_balance ELSE 0 END AS DECIMAL(14, 2))
        as forfeited_amount,
    CAST(CASE WHEN termination_date is not null THEN vested_balance ELSE balance END AS DECIMAL(14, 2))
        as closing_balance
from valued
