with

source as (

    select * from {{ source('recs', 'recommendations') }}

),

renamed as (

    select
        run_id,
        user_id,
        title_id,
        rank as recommendation_rank,
        score as recommendation_score,
        is_cold_start,
        loaded_seq

    from source

)

select * from renamed
