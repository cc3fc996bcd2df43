{# Money is DECIMAL with 2 decimals, rounded half away from zero, so sums are identical whatever the thread count. #}
{% macro money(expr) -%}
CAST(ROUND(CAST({{ expr }} AS DECIMAL(18, 6)), 2) AS DECIMAL(14, 2))
{%- endmacro %}

{% macro rate(expr) -%}
CAST({{ expr }} AS DECIMAL(7, 4))
{%- endmacro %}
