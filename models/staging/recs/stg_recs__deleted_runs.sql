with

source as (

    -- row_version_xid: the transaction (on Spark, the write) that recorded
    -- the deletion (see stg_recs__*).
    select
        *,
        {{ row_version_xid() }} as row_xid
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
