{#
  dbt-duckdb's list_schemas compares information_schema's catalog_name with the database name as dbt passes it,
  quoted ('"simulation"'), so it never finds a schema: dbt then runs create_schema for `main` (a lookup, BEGIN,
  `create schema if not exists`, COMMIT) at the start of every invocation. The same query with the quotes removed.
#}
{% macro duckdb__list_schemas(database) -%}
  {% set sql %}
    select schema_name
    from system.information_schema.schemata
    {% if database is not none %}
    where lower(catalog_name) = '{{ database | replace('"', '') | lower }}'
    {% endif %}
  {% endset %}
  {{ return(run_query(sql)) }}
{% endmacro %}
