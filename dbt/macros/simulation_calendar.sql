{# The year being built and its calendar. Every year-dependent expression goes through these macros. #}
{% macro sim_year() %}{{ var('simulation_year') | int }}{% endmacro %}

{% macro start_year() %}{{ var('simulation__start_year') | int }}{% endmacro %}

{% macro year_start() %}make_date({{ sim_year() }}, 1, 1){% endmacro %}

{% macro year_end() %}make_date({{ sim_year() }}, 12, 31){% endmacro %}

{% macro days_in_year() %}(make_date({{ sim_year() }} + 1, 1, 1) - make_date({{ sim_year() }}, 1, 1)){% endmacro %}

{# Day offset inside the year from a uniform draw: Jan 1 + floor(u x days in year). #}
{% macro date_in_year(draw) %}({{ year_start() }} + CAST(floor({{ draw }} * {{ days_in_year() }}) AS INTEGER)){% endmacro %}
