{% macro grant_warehouse_access() -%}
    {{ return(adapter.dispatch('grant_warehouse_access', 'recdb')()) }}
{%- endmacro %}


{% macro postgres__grant_warehouse_access() -%}
    {#- Runs as the owner at the start of every dbt invocation, so plain
        `dbt build` on any server leaves the read roles able to read raw and
        marts, and nothing else. Roles the server lacks are skipped: on a
        bring-your-own server they may not have been created yet. -#}
    {%- set readable_schemas = ['raw', 'marts', 'snapshots'] -%}
    {%- set private_schemas = ['staging', 'intermediate'] -%}
    {%- set reader_roles = [var('analyst_role', 'recdb_analyst'), var('scientist_role', 'recdb_scientist')] -%}
    {%- if execute -%}
        {%- set existing = run_query(
            "select rolname from pg_roles where rolname in ('"
            ~ reader_roles | join("', '") ~ "')"
        ).columns[0].values() -%}
    {%- else -%}
        {%- set existing = [] -%}
    {%- endif -%}
    {%- for schema_name in readable_schemas + private_schemas %}
    create schema if not exists {{ adapter.quote(schema_name) }};
    {%- endfor %}
    {%- for role_name in existing %}
        {%- for schema_name in readable_schemas %}
    grant usage on schema {{ adapter.quote(schema_name) }} to {{ adapter.quote(role_name) }};
    grant select on all tables in schema {{ adapter.quote(schema_name) }} to {{ adapter.quote(role_name) }};
    alter default privileges in schema {{ adapter.quote(schema_name) }}
        grant select on tables to {{ adapter.quote(role_name) }};
        {%- endfor %}
    {%- endfor %}
{%- endmacro %}


{#- Spark: the schemas (databases) only. Who may read a table is the business of the
    storage its files live in (the warehouse folder's, or the cluster's, permissions)
    and of the serving PostgreSQL that `recdb publish` fills: Spark has no roles. -#}
{% macro spark__grant_warehouse_access() -%}
    {%- if execute -%}
        {%- for schema_name in ['raw', 'staging', 'intermediate', 'marts'] %}
            {#- checked first: the metastore logs an error for one that exists -#}
            {%- if not adapter.check_schema_exists(none, schema_name) -%}
                {%- do run_query('create schema ' ~ schema_name) -%}
            {%- endif -%}
        {%- endfor %}
    {%- endif -%}
    select 1 as schemas_created
{%- endmacro %}
