with

source as (

    -- row_version_xid: the transaction (on Spark, the write) that wrote the
    -- row's current version, by which the
    -- incremental marts find what changed since their last build.
    select
        *,
        {{ row_version_xid() }} as row_xid
    from {{ source('recs', 'runs') }}

),

renamed as (

    select
        run_id,
        published_at,
        row_xid

    from source

)

select * from renamed
