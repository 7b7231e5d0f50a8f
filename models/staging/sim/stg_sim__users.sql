with

source as (

    -- xmin: the transaction that wrote the row's current version, by which the
    -- incremental marts find what changed since their last build.
    select
        *,
        xmin as row_xid
    from {{ source('sim', 'users') }}

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
        row_xid

    from source

)

select * from renamed
