{#-
    Statement that refreshes the planner's statistics of a table, for a
    post-hook after a full build of a large incremental model: until
    autovacuum gets to it, a freshly built table has none, and PostgreSQL
    plans the next build's merge and joins blind. ANALYZE samples a fixed
    number of rows (tenths of a second on ten million). Other engines: a no-op.
-#}
{% macro analyze_table(relation) -%}
    {{ return(adapter.dispatch('analyze_table', 'recdb')(relation)) }}
{%- endmacro %}


{% macro postgres__analyze_table(relation) -%}
    analyze {{ relation }}
{%- endmacro %}


{% macro default__analyze_table(relation) -%}
    select 1 as statistics_left_to_the_engine
{%- endmacro %}
