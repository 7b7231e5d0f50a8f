{#-
    A deterministic surrogate key: the hash (dbt.hash, md5 on PostgreSQL) of
    the fields cast to text and joined with '-', each null written as a
    marker so that (null, 'a') and ('', 'a') give different keys.
-#}
{% macro surrogate_key(field_list) -%}
    {%- set null_marker = "'_recdb_null_'" -%}
    {%- set parts = [] -%}
    {%- for field in field_list -%}
        {%- do parts.append(
            "coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), " ~ null_marker ~ ")"
        ) -%}
        {%- if not loop.last %}{% do parts.append("'-'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
