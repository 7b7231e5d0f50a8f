{#- Fails on every row whose column is not a Python list literal of quoted
    strings, as the source writes them: `['drama', 'comedy']`, `["it's"]` or
    `[]`. Text such as `drama, comedy` or `[drama` would otherwise parse as
    "no elements" and pass silently. A null passes (not_null tests that). -#}
{% test is_list_literal(model, column_name) %}

with

violating_rows as (
    select *
    from {{ model }}
    where {{ column_name }} is not null
        and not ({{ adapter.dispatch('is_list_literal', 'recdb')(column_name) }})
)

select * from violating_rows

{% endtest %}


{#- PostgreSQL: the whole value against the grammar, as a POSIX regular expression. -#}
{% macro postgres__is_list_literal(column_name) -%}
    {{ column_name }} ~ '^\[\s*((''[^'']*''|"[^"]*")(\s*,\s*(''[^'']*''|"[^"]*"))*)?\s*\]$'
{%- endmacro %}


{#- Other engines: brackets around the value, and no bare comma-separated words (every
    element quoted), checked with LIKE alone. Weaker than the expression above. -#}
{% macro default__is_list_literal(column_name) -%}
    {{ column_name }} like '[%]'
    and ({{ column_name }} = '[]' or {{ column_name }} like '[''%''%]' or {{ column_name }} like '["%"%]')
{%- endmacro %}
