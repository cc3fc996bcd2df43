{#
  Who gets a source of employer money in year Y (docs/simulation.md "Who gets employer money"): at least its
  minimum hours (2,080 x days employed / days in year), its minimum years of service (Y - hire year) and, under its
  last-day rule, employment on Dec 31. The match's hours default to the core's and its last-day rule to true; a safe
  harbor match has neither (the config refuses setting them).
#}
{% macro employer_money_eligible(source, days_employed, years_of_service, termination_date) -%}
{%- set prefix = 'employer_match__' if source == 'match' else 'employer_core_contribution__' -%}
{%- set safe_harbor = source == 'match'
      and var('employer_match__formula') in ['safe_harbor_basic', 'safe_harbor_enhanced', 'qaca'] -%}
{%- set own_hours = var(prefix ~ 'minimum_hours') -%}
{%- set hours = own_hours if own_hours is not none
      else (0 if safe_harbor else var('employer_core_contribution__minimum_hours')) -%}
{%- set own_last_day = var(prefix ~ 'last_day_rule') -%}
{%- set last_day = own_last_day if own_last_day is not none else not safe_harbor -%}
(2080.0 * {{ days_employed }} / {{ days_in_year() }} >= {{ hours }}
 and {{ years_of_service }} >= {{ var(prefix ~ 'minimum_service_years') }}
 {%- if last_day %} and {{ termination_date }} is null{% endif %})
{%- endmacro %}
