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


{#- Spark: the same regular expression (regexp_extract_all) and posexplode for the
    positions. Quotes inside the pattern are written \' : Spark joins adjacent
    literals, so '''' would be an empty string, not a quote. -#}
{% macro spark__parse_list_literal(relation, key_column, list_column) -%}
    {%- set element = "trim(substr(list_elements.element_match, 2, "
        ~ "length(list_elements.element_match) - 2))" -%}
    select
        listed.{{ key_column }} as {{ key_column }},
        {{ element }} as list_element,
        cast(list_elements.element_index + 1 as {{ dbt.type_int() }}) as element_position
    from {{ relation }} as listed
    lateral view posexplode(
        regexp_extract_all(listed.{{ list_column }}, '\'[^\']*\'|"[^"]*"', 0)
    ) list_elements as element_index, element_match
    where {{ element }} <> ''
{%- endmacro %}


{#- Any other engine: strip the brackets, split on the ", " separator with
    SQL's split_part(text, delimiter, n) for n = 1..100 (a digits cross join),
    and strip the quotes. Limits: at most 100 elements, and no element may
    contain ", " (true of genre and country lists). An engine without
    split_part (e.g. BigQuery) needs its own <adapter>__parse_list_literal.
    dbt.split_part is not used: it wants a literal part number. -#}
{% macro default__parse_list_literal(relation, key_column, list_column) -%}
    {%- set bare_list = "trim(replace(replace(listed." ~ list_column ~ ", '[', ''), ']', ''))" -%}
    {%- set element = "trim(replace(replace(split_part(" ~ bare_list
        ~ ", ', ', positions.element_position), '''', ''), '\"', ''))" -%}
    {%- set digits -%}
        {%- for digit in range(10) %}
            select {{ digit }} as digit{% if not loop.last %} union all{% endif %}
        {%- endfor %}
    {%- endset -%}
    select
        listed.{{ key_column }} as {{ key_column }},
        {{ element }} as list_element,
        positions.element_position as element_position
    from {{ relation }} as listed
    cross join (
        select cast(tens.digit * 10 + units.digit + 1 as {{ dbt.type_int() }}) as element_position
        from ({{ digits }}
        ) as tens
        cross join ({{ digits }}
        ) as units
    ) as positions
    where
        {{ bare_list }} <> ''
        and positions.element_position
        <= {{ dbt.length(bare_list) }} - {{ dbt.length("replace(" ~ bare_list ~ ", ',', '')") }} + 1
        and {{ element }} <> ''
{%- endmacro %}
