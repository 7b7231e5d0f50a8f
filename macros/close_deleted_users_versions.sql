{#-
    Post-hook of users_snapshot: close the current version of each user
    deleted from sim.users since the snapshot's last build (and not written
    again), as dbt's `hard_deletes: invalidate` would. The snapshot's feed
    holds only the users written since (int_users_snapshotted), so dbt
    cannot tell a deleted user from one that did not change.
-#}
{% macro close_deleted_users_versions() -%}
    update {{ this }} as versions
    set dbt_valid_to = {{ snapshot_get_time() }}
    where
        versions.dbt_valid_to is null
        and versions.user_id in (
            select deleted.user_id
            from {{ ref('stg_sim__deleted_users') }} as deleted
            where {{ changed_since_last_build('deleted.row_xid', 'users_snapshot') }}
        )
        and not exists (
            select 1
            from {{ ref('stg_sim__users') }} as users
            where users.user_id = versions.user_id
        )
{%- endmacro %}


{#- Pre-hook of users_snapshot, after read_from_one_snapshot: when the snapshot
    table does not exist yet (a first build, or after it was dropped), forget
    its watermark, so that its feed takes every user again. -#}
{% macro forget_watermark_of_a_new_snapshot() -%}
    {%- if adapter.get_relation(this.database, this.schema, this.identifier) is none -%}
        delete from {{ build_watermarks_relation() }}
        where model_name = '{{ this.identifier }}'
    {%- else -%}
        select 1 as snapshot_exists
    {%- endif -%}
{%- endmacro %}
