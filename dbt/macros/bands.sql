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

{# One probability per (age segment, income segment): the age rate (var prefix age_vars) x the income multiplier
   (var prefix income_vars), e.g. the opt-out rates or the voluntary enrollment rates. #}
{% macro segment_probabilities(age_vars, income_vars) -%}
select *
from (values
    {%- for segment in ['young', 'mid_career', 'mature', 'senior'] %}
    ('{{ segment }}', {{ var(age_vars ~ '__' ~ segment) }}){{ ',' if not loop.last }}
    {%- endfor %}
) as a(age_segment, age_rate)
cross join (values
    {%- for segment in ['low', 'moderate', 'high', 'executive'] %}
    ('{{ segment }}', {{ var(income_vars ~ '__' ~ segment) }}){{ ',' if not loop.last }}
    {%- endfor %}
) as i(income_segment, income_multiplier)
{%- endmacro %}
