{#-
    Turns a Python list literal held in a text column, such as
    "['crime', 'drama']", into one row per element: the relation's key, the
    element (quotes and surrounding blanks removed) and its 1-based position.
    "[]", an empty string and null give no rows. The result is a complete
    select statement, meant to be the body of a CTE.
-#}
{% macro parse_list_literal(relation, key_column, list_column) -%}
    {{ return(adapter.dispatch('parse_list_literal', 'recdb')(relation, key_column, list_column)) }}
{%- endmacro %}


{#- PostgreSQL: a global regular expression picks out every quoted element
    ('…' or "…", as Python's repr writes them), so commas inside an element
    are kept; "with ordinality" numbers the matches in list order. -#}
{% macro postgres__parse_list_literal(relation, key_column, list_column) -%}
    select
        listed.{{ key_column }} as {{ key_column }},
        trim(coalesce(list_elements.element_match[1], list_elements.element_match[2])) as list_element,
        cast(list_elements.element_position as {{ dbt.type_int() }}) as element_position
    from {{ relation }} as listed
    cross join lateral regexp_matches(
        listed.{{ list_column }}, '''([^'']*)''|"([^"]*)"', 'g'
    ) with ordinality as list_elements (element_match, element_position)
    where trim(coalesce(list_elements.element_match[1], list_elements.element_match[2])) <> ''
{%- endmacro %}


{#- Any other engine: strip the brackets, split on the ", " separator with the
    cross-database split_part for positions 1..max_elements, and strip the
    quotes. Elements must not contain ", " (true of genre and country lists). -#}
{% macro default__parse_list_literal(relation, key_column, list_column) -%}
    {%- set max_elements = var('list_literal_max_elements', 100) -%}
    {%- set bare_list = "trim(replace(replace(listed." ~ list_column ~ ", '[', ''), ']', ''))" -%}
    select
        listed.{{ key_column }} as {{ key_column }},
        trim(replace(replace(
            {{ dbt.split_part(bare_list, "', '", "positions.element_position") }},
            '''', ''), '"', '')) as list_element,
        positions.element_position as element_position
    from {{ relation }} as listed
    cross join (
        {%- for position in range(1, max_elements + 1) %}
        select cast({{ position }} as {{ dbt.type_int() }}) as element_position
        {%- if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as positions
    where
        {{ bare_list }} <> ''
        and positions.element_position
        <= {{ dbt.length(bare_list) }} - {{ dbt.length("replace(" ~ bare_list ~ ", ',', '')") }} + 1
        and trim(replace(replace(
            {{ dbt.split_part(bare_list, "', '", "positions.element_position") }},
            '''', ''), '"', '')) <> ''
{%- endmacro %}
