{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Folder schemas (raw, staging, intermediate, marts) are used verbatim so
        that analysts and python_api find the same names on every server. -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
