with

source as (

    -- xmin: the transaction that recorded the deletion (see stg_recs__*).
    select
        *,
        xmin as row_xid
    from {{ source('recs', 'deleted_runs') }}

),

renamed as (

    select
        run_id,
        deleted_at,
        row_xid

    from source

)

select * from renamed
