{{
    config(
        materialized='ephemeral'
    )
}}

with

users as (

    select * from {{ ref('stg_sim__users') }}

),

final as (

    select
        user_id,
        signup_at,
        birth_year,
        gender,
        country_code,
        plan,
        churned_at
    from users

)

select * from final
