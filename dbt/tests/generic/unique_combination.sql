{# Rows whose combination of `columns` appears more than once (all duplicate rows are returned). #}
{% test unique_combination(model, columns) %}
select *
from (
    select *, count(*) over (partition by {{ columns | join(', ') }}) as duplicate_count
    from {{ model }}
)
where duplicate_count > 1
{% endtest %}
