{#- Fails on every row whose column lies outside [min_value, max_value] (bounds
    inclusive by default; either bound may be left out). Nulls pass: pair it
    with not_null where the column is required. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error(
            "accepted_range on " ~ model ~ "." ~ column_name ~ " needs min_value, max_value or both"
        ) }}
    {%- endif %}

with

checked_values as (
    select {{ column_name }} as checked_value
    from {{ model }}
    where {{ column_name }} is not null
),

out_of_range as (
    select checked_value
    from checked_values
    where
        1 = 0
        {%- if min_value is not none %}
        or checked_value {{ '<' if inclusive else '<=' }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        or checked_value {{ '>' if inclusive else '>=' }} {{ max_value }}
        {%- endif %}
)

select * from out_of_range

{% endtest %}
