with

source as (

    select * from {{ source('sim', 'users') }}

),

renamed as (

    select
        user_id,
        signup_at,
        birth_year,
        gender,
        country_code,
        plan,
        churned_at,
        written_xid as row_xid

    from source

)

select * from renamed
