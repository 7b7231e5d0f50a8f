{#-
    The high-water mark of an incremental model: the largest value of
    column_name (a load sequence number) in the model's table as built so far,
    0 when it is empty. Rendered as a number literal, read with one query when
    the model runs, so that the model's filter `loaded_seq > <number>` is a
    plain range condition that the planner estimates from statistics and
    answers from the landing tables' loaded_seq indexes (a scalar subquery
    there would be estimated at a third of the table, and read as a scan).
    In unit tests `this` is the fixture of the model's rows (a CTE name, not a
    relation) and nothing is run: the macro returns the same value as a
    subquery. On a full build (not `is_incremental()`) it is 0.
-#}
{% macro incremental_watermark(column_name='loaded_seq') -%}
    {%- if not is_incremental() -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set watermark_sql = 'select coalesce(max(' ~ column_name ~ '), 0) from ' ~ this -%}
    {%- if execute and this is not string -%}
        {%- set watermark = run_query(watermark_sql).columns[0].values()[0] -%}
        {{ return(watermark | int) }}
    {%- else -%}
        {{ return('(' ~ watermark_sql ~ ')') }}
    {%- endif -%}
{%- endmacro %}
