{#-
    Statement that analyses a table only if it has no planner statistics yet:
    for the post-hook of a table that dbt creates on its first build and then
    only grows, such as a snapshot (which has no is_incremental() to tell a
    first build from a later one). Freshly created, the table has none until
    autovacuum gets to it, and PostgreSQL plans the next build's merge blind;
    later builds add few rows and leave the statistics to autovacuum. Other
    engines: a no-op.
-#}
{% macro analyze_table_if_unanalysed(relation) -%}
    {{ return(adapter.dispatch('analyze_table_if_unanalysed', 'recdb')(relation)) }}
{%- endmacro %}


{#- PostgreSQL: pg_stats lists a row per analysed column (an analysed empty
    table has none, and is analysed again: cheap). ANALYZE may run inside a
    DO block, in the snapshot's transaction. -#}
{% macro postgres__analyze_table_if_unanalysed(relation) -%}
    do $recdb$
    begin
        if not exists (
            select 1
            from pg_catalog.pg_stats
            where schemaname = '{{ relation.schema }}' and tablename = '{{ relation.identifier }}'
        ) then
            analyze {{ relation }};
        end if;
    end
    $recdb$
{%- endmacro %}


{% macro default__analyze_table_if_unanalysed(relation) -%}
    select 1 as statistics_left_to_the_engine
{%- endmacro %}
