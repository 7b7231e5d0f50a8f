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
