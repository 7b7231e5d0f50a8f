{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='user_id',
        on_schema_change='fail',
        indexes=[{'columns': ['loaded_seq']}],
        pre_hook="{{ lock_for_consistent_read([ref('stg_sim__users')]) }}",
        post_hook="{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}"
    )
}}

{%- set watermark = incremental_watermark('loaded_seq') %}

with

{% if is_incremental() -%}

    -- Users written or updated since the dimension's last build (a plan
    -- change through python_api's update bumps loaded_seq), found through
    -- sim.users' loaded_seq index.
    users as (

        select * from {{ ref('stg_sim__users') }}
        where loaded_seq > {{ watermark }}

    ),

{%- else -%}

    users as (

        select * from {{ ref('stg_sim__users') }}

    ),

{%- endif %}

final as (

    select
        user_id,
        signup_at,
        birth_year,
        gender,
        country_code,
        plan,
        churned_at,
        churned_at is not null as is_churned,
        loaded_seq,
        cast({{ watermark }} as {{ dbt.type_bigint() }}) as load_watermark_seq
    from users

)

select * from final
