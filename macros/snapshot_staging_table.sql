{#-
    Overrides dbt's snapshot_staging_table (the query of a snapshot's changes
    that its merge applies) for snapshots with hard_deletes: ignore, such as
    users_snapshot, which is fed only the rows changed since its last build.
    dbt compares the source rows with the current versions of every key
    (a CTE over the whole snapshot, which PostgreSQL materialises, since it is
    read twice: a full scan at every build). With hard_deletes: ignore only
    the versions of keys present in the source can match anything, so the
    snapshot is narrowed to those (a semi-join on the unique key, answered
    through the snapshot's index on it) before dbt's own query runs; the
    result is the same. Snapshots that track deletions (invalidate,
    new_record) need every version and keep dbt's query unchanged.
-#}
{% macro snapshot_staging_table(strategy, source_sql, target_relation) -%}
    {%- if strategy.hard_deletes == 'ignore' -%}
        {%- set keys = strategy.unique_key if (strategy.unique_key | is_list) else [strategy.unique_key] -%}
        {#- dbt's query reads the snapshot as `from <target_relation> where
            <current>`, after its CTE snapshot_query (the source rows). -#}
        {%- set target_relation -%}
            (
                select * from {{ target_relation }}
                where ({{ keys | join(', ') }}) in (select {{ keys | join(', ') }} from snapshot_query)
            ) as snapshotted_keys_in_source
        {%- endset -%}
    {%- endif -%}
    {{ adapter.dispatch('snapshot_staging_table', 'dbt')(strategy, source_sql, target_relation) }}
{%- endmacro %}
