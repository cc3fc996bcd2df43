{#
  Lean materializations: each model is one statement in one transaction. dbt's own `table`, `view` and
  `incremental` spend about 0.15 s of Jinja, relation-cache lookups and extra statements (temp table, backup
  rename, drop) per model; at the size of a year's SQL that overhead was most of a run. Plain `dbt run` and
  `dbt build` use them too.

  simulation_table / simulation_view: the model's current rows, replaced whole (`create or replace`).
  year_slice: a table keyed by simulation_year. Building year Y removes year Y and every later year (every year
  when Y is the first simulated year; on --full-refresh the table is created anew), then appends year Y's rows
  by column name. Rebuilding a year is idempotent; rows of years outside the run never remain.
#}

{% materialization simulation_table, adapter='duckdb' %}
  {{ return(_build_relation('table', replace=true)) }}
{% endmaterialization %}

{% materialization simulation_view, adapter='duckdb' %}
  {{ return(_build_relation('view', replace=true)) }}
{% endmaterialization %}

{% materialization year_slice, adapter='duckdb' %}
  {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
  {{ return(_build_relation('table', replace=existing is none or should_full_refresh())) }}
{% endmaterialization %}

{# The shared body: hooks around one statement (create or replace, or clear the years and append), one commit. #}
{% macro _build_relation(kind, replace) %}
  {%- set target = this.incorporate(type=kind) -%}
  {{ run_hooks(pre_hooks) }}
  {% if replace %}
    {% call statement('main') -%}
      create or replace {{ kind }} {{ target }} as (
{{ compiled_code }}
      )
    {%- endcall %}
  {% else %}
    {% call statement('clear_years') -%}
      {{ clear_simulated_years() }}
    {%- endcall %}
    {% call statement('main') -%}
      insert into {{ target }} by name
      select * from (
{{ compiled_code }}
      )
    {%- endcall %}
  {% endif %}
  {{ run_hooks(post_hooks) }}
  {% do adapter.commit() %}
  {{ return({'relations': [target]}) }}
{% endmacro %}
