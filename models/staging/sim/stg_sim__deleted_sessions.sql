with

source as (

    -- xmin: the transaction that recorded the deletion (see stg_sim__*).
    select
        *,
        xmin as row_xid
    from {{ source('sim', 'deleted_sessions') }}

),

renamed as (

    select
        session_id,
        user_id,
        deleted_at,
        row_xid

    from source

)

select * from renamed
