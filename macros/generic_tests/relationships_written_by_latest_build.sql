{#- dbt's relationships test, on the rows a model's latest build wrote: those
    whose landing row (`landing`, a staging view with `key_column` and row_xid)
    was written since the watermark that build took rows since
    (latest_build_took_since), found through the stamps' index and looked up
    by key (a filter on the mart's xmin read every row of it, and a semi-join
    hashed it: 0.8 s and 1.4 s per test at 10M sessions), and each value
    looked up in `to` the same way. After a full build,
    or with `--vars '{test_all_rows: true}'`, every row. Fails on each value
    of the column with no match in `to`.`field`. -#}
{% test relationships_written_by_latest_build(model, column_name, to, field, key_column, landing) %}

{%- set took_since = latest_build_took_since(model.identifier) %}

with

child as (
    {%- if took_since is none %}
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
    {%- else %}
    select kept.from_field
    from {{ landing }} as written
    cross join lateral (
        select model_rows.{{ column_name }} as from_field
        from {{ model }} as model_rows
        where model_rows.{{ key_column }} = written.{{ key_column }}
        offset 0
    ) as kept
    where written.row_xid >= {{ took_since }} and kept.from_field is not null
    {%- endif %}
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
)

{%- if took_since is none %}

select child.from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null
{%- else %}

-- Each value written looked up in `to` by key: hashing every row of `to`
-- grew with it (0.46 s of 0.49 s at 10M sessions, 1 million users).
select distinct_child.from_field
from (select distinct from_field from child) as distinct_child
where not exists (
    select 1 from parent
    where parent.to_field = distinct_child.from_field
    offset 0
)
{%- endif %}

{% endtest %}
