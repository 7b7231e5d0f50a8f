{#-
    A pre-hook for a model that reads landing tables by their load sequence
    number: locks them (through the given staging views, which PostgreSQL
    locks down to their tables) in SHARE mode for the rest of the model's
    transaction. SHARE waits for the writes in flight to commit or roll back
    and holds new ones until the model is built; reads go on. Without it, a
    write that drew a lower sim.load_seq number but committed after the model
    read a higher one would fall below the model's next watermark and be
    missed for good. Waits at most lock_timeout for the writers in flight.
-#}
{% macro lock_for_consistent_read(relations, lock_timeout='5min') -%}
    {{ return(adapter.dispatch('lock_for_consistent_read', 'recdb')(relations, lock_timeout)) }}
{%- endmacro %}


{#- PostgreSQL: LOCK TABLE on the views locks their base tables too (PostgreSQL ≥ 11). -#}
{% macro postgres__lock_for_consistent_read(relations, lock_timeout) -%}
    set local lock_timeout = '{{ lock_timeout }}';
    lock table {{ relations | join(', ') }} in share mode
{%- endmacro %}


{#- Other engines: no-op. Snapshot-isolated engines (Snowflake, BigQuery, …)
    have no such lock; their loaders must commit sequence numbers in order. -#}
{% macro default__lock_for_consistent_read(relations, lock_timeout) -%}
    select 1 as no_lock_needed
{%- endmacro %}
