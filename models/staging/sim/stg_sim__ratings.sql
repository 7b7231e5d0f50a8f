with

source as (

    -- xmin: the transaction that wrote the row's current version, by which the
    -- incremental marts find what changed since their last build.
    select
        *,
        xmin as row_xid
    from {{ source('sim', 'ratings') }}

),

renamed as (

    select
        session_id,
        rating,
        rated_at,
        row_xid

    from source

)

select * from renamed
