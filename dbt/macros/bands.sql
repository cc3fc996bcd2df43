{# Band and segment labels (simulation.md 1.2). Hazard seeds are keyed by these labels. #}
{% macro age_band(age) -%}
CASE WHEN {{ age }} < 25 THEN '<25' WHEN {{ age }} < 35 THEN '25-34' WHEN {{ age }} < 45 THEN '35-44'
     WHEN {{ age }} < 55 THEN '45-54' WHEN {{ age }} < 65 THEN '55-64' ELSE '65+' END
{%- endmacro %}

{% macro tenure_band(tenure) -%}
CASE WHEN {{ tenure }} < 2 THEN '<2' WHEN {{ tenure }} < 5 THEN '2-4' WHEN {{ tenure }} < 10 THEN '5-9'
     WHEN {{ tenure }} < 20 THEN '10-19' ELSE '20+' END
{%- endmacro %}

{% macro age_segment(age) -%}
CASE WHEN {{ age }} < 30 THEN 'young' WHEN {{ age }} < 45 THEN 'mid_career' WHEN {{ age }} < 60 THEN 'mature' ELSE 'senior' END
{%- endmacro %}

{% macro income_segment(pay) -%}
CASE WHEN {{ pay }} < 50000 THEN 'low' WHEN {{ pay }} < 100000 THEN 'moderate' WHEN {{ pay }} < 200000 THEN 'high' ELSE 'executive' END
{%- endmacro %}
