{# Rows where the column is negative (NULLs are the not_null test's business). #}
{% test non_negative(model, column_name) %}
select * from {{ model }} where {{ column_name }} < 0
{% endtest %}
