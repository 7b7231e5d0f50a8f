with

source as (

    select * from {{ source('netflix', 'titles') }}

),

renamed as (

    select
        id as title_id,
        title as title_name,
        lower(type) as title_type,
        release_year,
        nullif(age_certification, '') as age_certification,
        runtime as runtime_minutes,
        genres as genres_list,
        production_countries as production_countries_list,
        seasons as season_count,
        nullif(imdb_id, '') as imdb_id,
        imdb_score,
        imdb_votes as imdb_vote_count

    from source

)

select * from renamed
