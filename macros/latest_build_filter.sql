{#-
    A condition that keeps the rows an incremental model wrote in its latest
    build: `loaded_seq > W`, W being the watermark that build started from,
    which the model stores on each row it writes (load_watermark_seq; 0 for
    rows written by a full build, so after one everything is kept). W is read
    from the newest row through the index on loaded_seq and rendered as a
    number, so the condition is an index range scan. With --vars
    '{test_all_rows: true}' (and when not executing) the condition is true.
-#}
{% macro latest_build_filter(relation, seq_column='loaded_seq', watermark_column='load_watermark_seq') -%}
    {%- if not execute or var('test_all_rows', false) -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set watermark_sql -%}
        select {{ watermark_column }} from {{ relation }} order by {{ seq_column }} desc limit 1
    {%- endset -%}
    {%- set newest = run_query(watermark_sql).rows -%}
    {%- set watermark = (newest[0][0] | int) if newest | length > 0 else 0 -%}
    {{ return(seq_column ~ ' > ' ~ watermark) }}
{%- endmacro %}
