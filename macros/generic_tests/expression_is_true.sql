{#- Fails on every row for which the boolean SQL expression (over the model's
    columns) is false, e.g. `ended_at >= started_at`. A row where it is null
    (a null operand) passes. -#}
{% test expression_is_true(model, expression) %}

with

violating_rows as (
    select *
    from {{ model }}
    where not ({{ expression }})
)

select * from violating_rows

{% endtest %}
