{# `value`, unless `condition` holds: then the query fails with `message` (never a silent zero). #}
{% macro guarded(value, condition, message) -%}
CASE WHEN {{ condition }} THEN error({{ message }}) ELSE {{ value }} END
{%- endmacro %}
