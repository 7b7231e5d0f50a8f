{#-
    The high-water mark of a snapshot fed incrementally: the largest value of
    column_name (a load sequence number) among the versions the snapshot
    holds, 0 when it holds none or does not exist yet (its first build then
    takes every row). For the model that feeds the snapshot, which cannot ref
    it (the snapshot refs the model): the snapshot is found by name in the
    project's graph. Rendered as a number literal, read with one query (one
    probe of the snapshot's loaded_seq index), so the feeding model's
    `loaded_seq > <number>` is a range the planner answers from the landing
    table's loaded_seq index, as incremental_watermark does for models.
    Returns 0 when not executing (parsing).
-#}
{% macro snapshot_watermark(snapshot_name, column_name='loaded_seq') -%}
    {%- if not execute -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set snapshots = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'snapshot')
        | selectattr('package_name', 'equalto', project_name)
        | selectattr('name', 'equalto', snapshot_name)
        | list -%}
    {%- if snapshots | length != 1 -%}
        {{ exceptions.raise_compiler_error("snapshot_watermark: no snapshot called " ~ snapshot_name) }}
    {%- endif -%}
    {%- set snapshot = snapshots[0] -%}
    {%- set relation = adapter.get_relation(
        database=snapshot.database, schema=snapshot.schema, identifier=snapshot.alias
    ) -%}
    {%- if relation is none -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set watermark_sql = 'select coalesce(max(' ~ column_name ~ '), 0) from ' ~ relation -%}
    {%- set watermark = run_query(watermark_sql).columns[0].values()[0] -%}
    {{ return(watermark | int) }}
{%- endmacro %}
