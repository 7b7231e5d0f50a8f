{#- Arrays, and text in byte order, where the engines spell them differently. -#}

{#- The join that gives one row per element of the array `list_column` of the
    rows before it, as `listed`.`element` with its 1-based position
    `listed`.`position`, in array order. -#}
{% macro numbered_list_elements(list_column, element, position) -%}
    {{ return(adapter.dispatch('numbered_list_elements', 'recdb')(list_column, element, position)) }}
{%- endmacro %}

{% macro postgres__numbered_list_elements(list_column, element, position) -%}
    cross join lateral unnest({{ list_column }})
        with ordinality as listed ({{ element }}, {{ position }})
{%- endmacro %}

{#- Spark: posexplode numbers from 0. -#}
{% macro spark__numbered_list_elements(list_column, element, position) -%}
    cross join lateral (
        select
            exploded.pos + 1 as {{ position }},
            exploded.col as {{ element }}
        from posexplode({{ list_column }}) as exploded
    ) as listed
{%- endmacro %}


{#- The element of an array at a 1-based position. -#}
{% macro list_element_at(list_column, position) -%}
    {{ return(adapter.dispatch('list_element_at', 'recdb')(list_column, position)) }}
{%- endmacro %}

{% macro postgres__list_element_at(list_column, position) -%}
    {{ list_column }}[{{ position }}]
{%- endmacro %}

{#- Spark: [] counts from 0; element_at from 1. -#}
{% macro spark__list_element_at(list_column, position) -%}
    element_at({{ list_column }}, {{ position }})
{%- endmacro %}


{#- `expression` (text) ordered byte by byte, whatever the database's
    collation: PostgreSQL's collate "C"; Spark compares bytes already. -#}
{% macro in_byte_order(expression) -%}
    {{ return(adapter.dispatch('in_byte_order', 'recdb')(expression)) }}
{%- endmacro %}

{% macro postgres__in_byte_order(expression) -%}
    {{ expression }} collate "C"
{%- endmacro %}

{% macro default__in_byte_order(expression) -%}
    {{ expression }}
{%- endmacro %}
