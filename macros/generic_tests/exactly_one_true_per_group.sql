{#- For a boolean column, fails on every group (rows sharing the values of
    group_by_columns) in which the column is not true on exactly one row:
    e.g. exactly one main genre for each title that has any genre. -#}
{% test exactly_one_true_per_group(model, column_name, group_by_columns) %}

with

flag_counts as (
    select
        {%- for column in group_by_columns %}
        {{ column }},
        {%- endfor %}
        sum(case when {{ column_name }} then 1 else 0 end) as true_count,
        count(*) as row_count
    from {{ model }}
    group by
        {%- for column in group_by_columns %}
        {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
),

violating_groups as (
    select *
    from flag_counts
    where true_count <> 1
)

select * from violating_groups

{% endtest %}
