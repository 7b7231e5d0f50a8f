{{
    config(
        materialized='ephemeral',
        contract={'enforced': false}
    )
}}

{%- set watermark = snapshot_watermark('users_snapshot') %}

with

-- Users written or updated since users_snapshot's last version (a plan
-- change through python_api's update bumps loaded_seq), found through
-- sim.users' loaded_seq index; every user while the snapshot is empty.
users as (

    select * from {{ ref('stg_sim__users') }}
    where loaded_seq > {{ watermark }}

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
        loaded_seq,
        cast({{ watermark }} as {{ dbt.type_bigint() }}) as load_watermark_seq
    from users

)

select * from final
