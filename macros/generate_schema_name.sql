{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Folder schemas (raw, staging, intermediate, marts) are used verbatim so
        that analysts and python_api find the same names on every server.
        With var audit_schema_suffix (recdb build's audit step), every schema
        gets it: the catalogue is built and tested out of readers' sight, then
        published at once (recdb/warehouse/build.py). -#}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {{ base ~ var('audit_schema_suffix', '') }}
{%- endmacro %}
