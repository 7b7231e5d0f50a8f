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
        title_ids as recommended_title_ids,
        scores as recommendation_scores,
        is_cold_start,
        row_xid

    from source

)

select * from renamed
