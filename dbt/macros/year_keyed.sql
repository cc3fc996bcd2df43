{#
  Pre-hook of every year-keyed incremental table: before year Y is built, remove year Y and every later year;
  when Y is the first simulated year, remove every year, so rows of years outside the run never remain.
#}
{% macro clear_simulated_years() %}
  {% set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) %}
  {% if existing is not none %}
    delete from {{ this }} where simulation_year >= {{ sim_year() }} or {{ sim_year() }} = {{ start_year() }}
  {% else %}
    select 1
  {% endif %}
{% endmacro %}
