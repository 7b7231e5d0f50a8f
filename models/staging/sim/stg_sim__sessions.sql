with

source as (

    -- xmin: the transaction that wrote the row's current version, by which the
    -- incremental marts find what changed since their last build.
    select
        *,
        xmin as row_xid
    from {{ source('sim', 'sessions') }}

),

renamed as (

    select
        session_id,
        user_id,
        title_id,
        started_at,
        ended_at,
        minutes_watched,
        completion_ratio,
        row_xid

    from source

)

select * from renamed
