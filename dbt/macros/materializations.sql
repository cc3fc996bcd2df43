{#
  Lean materializations: each model is one statement, in one transaction when it needs one. dbt's own `table`,
  `view` and `incremental` spend about 0.15 s of Jinja, relation-cache lookups and extra statements (temp table,
  backup rename, drop) per model; at the size of a year's SQL that overhead was most of a run. Plain `dbt run` and
  `dbt build` use them too.

  simulation_table / simulation_view: the model's current rows, replaced whole (`create or replace`).
  year_slice: a table keyed by simulation_year. Building year Y removes year Y and every later year (every year
  when Y is the first simulated year; on --full-refresh the table is created anew), then appends year Y's rows
  by column name. Rebuilding a year is idempotent; rows of years outside the run never remain.
#}

{% materialization simulation_table, adapter='duckdb' %}
  {{ return(_build_relation('table', replace=true, existing=_existing())) }}
{% endmaterialization %}

{% materialization simulation_view, adapter='duckdb' %}
  {{ return(_build_relation('view', replace=true, existing=_existing())) }}
{% endmaterialization %}

{% materialization year_slice, adapter='duckdb' %}
  {%- set existing = _existing() -%}
  {%- set replace = existing is none or existing.type != 'table' or should_full_refresh() -%}
  {{ return(_build_relation('table', replace=replace, existing=existing)) }}
{% endmaterialization %}

{# The model's relation in the database, from dbt's relation cache (no query). #}
{% macro _existing() %}
  {{ return(adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier)) }}
{% endmacro %}

{#
  The shared body: hooks around one statement (create or replace, or clear the years and append), one commit.
  A relation of the other kind under the model's name (a database built when the model was a table, now a view,
  or the reverse) is dropped first: DuckDB's `create or replace` does not replace a table by a view.
  A `create or replace` with nothing around it (no hooks, no drop) is one statement, atomic in DuckDB's own
  auto-commit transaction: dbt's BEGIN and COMMIT statements (and their events) are skipped for it, about 4 % of
  a small run.
#}
{% macro _build_relation(kind, replace, existing) %}
  {%- set target = this.incorporate(type=kind) -%}
  {%- set drop_first = existing is not none and existing.type != kind -%}
  {%- set alone = replace and not drop_first and not pre_hooks and not post_hooks -%}
  {{ run_hooks(pre_hooks) }}
  {% if drop_first %}
    {% do adapter.drop_relation(existing) %}
  {% endif %}
  {% if replace %}
    {% call statement('main', auto_begin=not alone) -%}
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
  {% if not alone %}
    {% do adapter.commit() %}
  {% endif %}
  {{ return({'relations': [target]}) }}
{% endmacro %}
