{#
  The employer core (nonelective) contribution of a person-year before 415(c) (docs/simulation.md "Core formulas"),
  as SQL over plan compensation, the person's age and years of service and the year's Social Security wage base.
  flat: rate x pay; service_graded / age_banded / points (age + service): the rate of the highest band reached;
  integrated: base_rate on pay up to the wage base plus excess_rate on pay above it. Core off: 0.
#}
{% macro core_formula(pay, age, years_of_service, wage_base) -%}
{%- set formula = var('employer_core_contribution__formula') -%}
{%- set measure = {'service_graded': years_of_service, 'age_banded': age,
                   'points': '(' ~ age ~ ' + ' ~ years_of_service ~ ')'}.get(formula) -%}
{%- if not var('employer_core_contribution__enabled') -%}
  0
{%- elif formula == 'flat' -%}
  {{ pay }} * {{ var('employer_core_contribution__rate') }}
{%- elif formula == 'integrated' -%}
  {{ var('employer_core_contribution__base_rate') }} * least({{ pay }}, {{ wage_base }})
    + {{ var('employer_core_contribution__excess_rate') }} * greatest(0, {{ pay }} - {{ wage_base }})
{%- else -%}
  {{ pay }} * CASE {% for band in var('employer_core_contribution__bands') | reverse -%}
    WHEN {{ measure }} >= {{ band['min'] }} THEN {{ band['rate'] }} {% endfor -%} END
{%- endif -%}
{%- endmacro %}
