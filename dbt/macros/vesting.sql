{#
  The vested share (0..1) of a source's employer money for a person with `years` of vesting service
  (docs/simulation.md "Vesting and forfeitures"): vesting.<source>.schedule, or its custom list of {years, percent}
  (the percent of the last step reached, 0 before the first).
#}
{% macro vested_share(source, years) -%}
{%- set schedule = var('vesting__' ~ source ~ '__schedule') -%}
{%- if schedule == 'immediate' -%}
  1
{%- elif schedule in ('cliff_1', 'cliff_2', 'cliff_3', 'qaca_2_year') -%}
  CASE WHEN {{ years }} >= {{ {'cliff_1': 1, 'cliff_2': 2, 'cliff_3': 3, 'qaca_2_year': 2}[schedule] }} THEN 1 ELSE 0 END
{%- elif schedule == 'graded_2_to_6' -%}
  least(1, greatest(0, {{ years }} - 1) * 0.2)
{%- elif schedule == 'graded_1_to_5' -%}
  least(1, greatest(0, {{ years }}) * 0.2)
{%- else -%}
  CASE {% for step in var('vesting__' ~ source ~ '__custom') | reverse -%}
    WHEN {{ years }} >= {{ step['years'] }} THEN {{ step['percent'] }} / 100.0
  {% endfor -%} ELSE 0 END
{%- endif -%}
{%- endmacro %}
