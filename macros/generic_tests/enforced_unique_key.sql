{#- Fails unless the database enforces uniqueness of the given columns (as a
    set) on the tested table: a PRIMARY KEY or UNIQUE constraint on exactly
    those columns. For large tables that the database already guards, such as
    the landing tables, this proves the key for every row, now and for every
    later write, by one catalog lookup instead of rescanning the table at each
    build. Engines without enforced keys fall back to a scan
    (unique_combination_of_columns). -#}
{% test enforced_unique_key(model, column_names) %}
    {{ return(adapter.dispatch('test_enforced_unique_key', 'recdb')(model, column_names)) }}
{% endtest %}


{% macro postgres__test_enforced_unique_key(model, column_names) %}

with

key_constraints as (
    select
        key_constraint.conname as constraint_name,
        array_agg(cast(key_column.attname as text) order by key_column.attname) as key_columns
    from pg_catalog.pg_constraint as key_constraint
    cross join lateral unnest(key_constraint.conkey) as constrained (column_number)
    inner join pg_catalog.pg_attribute as key_column
        on
            key_constraint.conrelid = key_column.attrelid
            and constrained.column_number = key_column.attnum
    where
        key_constraint.conrelid = to_regclass('{{ model }}')
        and key_constraint.contype in ('p', 'u')
    group by key_constraint.conname
),

missing_key as (
    select '{{ column_names | sort | join(", ") }}' as unenforced_key
    where not exists (
        select 1
        from key_constraints
        where key_columns = array[
            {%- for column in column_names | sort -%}
            '{{ column }}'{{ ', ' if not loop.last }}
            {%- endfor -%}
        ]
    )
)

select * from missing_key

{% endmacro %}


{% macro default__test_enforced_unique_key(model, column_names) %}
    {{ return(test_unique_combination_of_columns(model, column_names)) }}
{% endmacro %}
