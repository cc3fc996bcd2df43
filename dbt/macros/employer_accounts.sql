{#
  The arithmetic of an employer-money account (docs/simulation.md "Vesting and forfeitures"), shared by the
  snapshot, which carries each active person's balance into next year's start population, and fct_employer_accounts,
  which states every step: earnings = accounts.annual_return x the opening balance, in cents half up; the balance =
  opening + the year's contributions + earnings.
#}
{% macro account_earnings(opening) -%}
{{ money(opening ~ ' * ' ~ var('accounts__annual_return')) }}
{%- endmacro %}

{% macro account_balance(opening, contributions) -%}
({{ opening }} + {{ contributions }} + {{ account_earnings(opening) }})
{%- endmacro %}
