{#
  Rows a rebuild of year Y replaces (used by the year_slice materialization): year Y and every later year, or
  every year when Y is the first simulated year, so rows of years outside the run never remain.
#}
{% macro clear_simulated_years() %}
  delete from {{ this }} where simulation_year >= {{ sim_year() }} or {{ sim_year() }} = {{ start_year() }}
{% endmacro %}
