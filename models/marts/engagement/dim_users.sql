{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='merge',
        unique_key='user_id',
        on_schema_change='fail',
        pre_hook=[read_from_one_snapshot()],
        post_hook=[
            "{% if is_incremental() %}{{ delete_deleted_rows('user_id', [ref('stg_sim__deleted_users')], ref('stg_sim__users')) }}{% endif %}",
            "{{ record_build_watermark() }}",
            "{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}",
        ]
    )
}}

-- Read only by incremental builds and the post-hook, which removes deleted rows:
-- depends_on: {{ ref('stg_sim__deleted_users') }}

with

users as (

    select * from {{ ref('stg_sim__users') }}
    {% if is_incremental() -%}
        -- users written or updated since the last build (see incremental_by_commit)
        where {{ changed_since_last_build('row_xid') }}
    {%- endif %}

),

final as (

    select
        user_id,
        signup_at,
        birth_year,
        gender,
        country_code,
        plan,
        churned_at,
        churned_at is not null as is_churned
    from users

)

select * from final
