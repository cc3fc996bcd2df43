{# Rows matching `where` whose column is NULL: e.g. hire events without compensation. #}
{% test not_null_where(model, column_name, where) %}
select * from {{ model }} where ({{ where }}) and {{ column_name }} is null
{% endtest %}
