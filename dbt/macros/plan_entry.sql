{#
  The day a person enters the plan (docs/simulation.md "Plan eligibility"): the first entry date on or after the day
  they meet both rules, eligibility.minimum_age (their birthday of that age) and eligibility.service_months (the hire
  date plus that many months). Entry dates: immediate (that day), or the first day of a month, quarter or half-year.
  Nobody defers or is auto-enrolled before entry; the defaults (0, 0, immediate) make entry the hire date.
#}
{% macro plan_entry_date(birth_date, hire_date) -%}
{%- set met -%}
greatest({{ hire_date }},
         CAST({{ birth_date }} + to_years({{ var('eligibility__minimum_age') | int }}) AS DATE),
         CAST({{ hire_date }} + to_months({{ var('eligibility__service_months') | int }}) AS DATE))
{%- endset -%}
{%- set months = {'immediate': 0, 'monthly': 1, 'quarterly': 3, 'semi_annual': 6}[var('eligibility__entry_dates')] -%}
{%- if months == 0 -%}
{{ met }}
{%- else -%}
CAST(make_date(year({{ met }}), 1, 1) + to_months(
    CASE WHEN day({{ met }}) = 1 AND (month({{ met }}) - 1) % {{ months }} = 0 THEN month({{ met }}) - 1
         ELSE ((month({{ met }}) - 1) // {{ months }} + 1) * {{ months }} END) AS DATE)
{%- endif -%}
{%- endmacro %}
