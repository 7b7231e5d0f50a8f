with

source as (

    -- row_version_xid: the transaction (on Spark, the write) that wrote the
    -- row's current version, by which the
    -- incremental marts find what changed since their last build.
    select
        *,
        {{ row_version_xid() }} as row_xid
    from {{ source('recs', 'recommendations') }}

),

renamed as (

    select
        run_id,
        user_id,
        title_ids as recommended_title_ids,
        scores as recommendation_scores,
        is_cold_start,
        row_xid

    from source

)

select * from renamed
