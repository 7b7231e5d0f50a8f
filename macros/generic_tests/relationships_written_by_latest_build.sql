{#- dbt's relationships test, on the rows a model's latest build wrote
    (written_by_latest_build: every row after a full build, or with
    `--vars '{test_all_rows: true}'`): fails on each value of the column
    with no match in `to`.`field`. -#}
{% test relationships_written_by_latest_build(model, column_name, to, field, key_column, landing) %}

with

child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where
        {{ column_name }} is not null
        and {{ written_by_latest_build(model.identifier, key_column, landing) }}
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
)

select child.from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null

{% endtest %}
