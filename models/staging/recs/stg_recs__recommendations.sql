with

source as (

    -- xmin: the transaction that wrote the row's current version, by which the
    -- incremental marts find what changed since their last build.
    select
        *,
        xmin as row_xid
    from {{ source('recs', 'recommendations') }}

),

renamed as (

    select
        run_id,
        user_id,
        title_id,
        rank as recommendation_rank,
        score as recommendation_score,
        is_cold_start,
        row_xid

    from source

)

select * from renamed
