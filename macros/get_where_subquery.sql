{#-
    Overrides dbt's get_where_subquery (the `where` config of data tests) to
    add one placeholder: `__latest_build__` in a test's `where` becomes
    latest_build_filter(<the tested relation>), so the tests of an
    incremental model check only the rows its latest build wrote. Any other
    `where` works as in dbt.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- if '__latest_build__' in where -%}
            {%- set where = where | replace('__latest_build__', latest_build_filter(relation)) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
