{#-
    Statement that vacuums and analyses a table, for a post-hook that runs
    after the model's transaction commits (`transaction: false`: VACUUM
    cannot run inside one). It marks the pages the build wrote all-visible,
    so that readers of an index alone (cold_start_titles reads
    fact_sessions' (title_id, user_id) index) never visit the table, and
    refreshes the planner's statistics. After an incremental build it visits
    only the pages that build changed. Other engines: a no-op.
-#}
{% macro vacuum_table(relation) -%}
    {{ return(adapter.dispatch('vacuum_table', 'recdb')(relation)) }}
{%- endmacro %}


{% macro postgres__vacuum_table(relation) -%}
    vacuum (analyze) {{ relation }}
{%- endmacro %}


{% macro default__vacuum_table(relation) -%}
    select 1 as vacuum_left_to_the_engine
{%- endmacro %}
