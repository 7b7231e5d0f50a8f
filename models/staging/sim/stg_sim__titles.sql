{{ config(tags=['catalog']) }}

with

source as (

    select * from {{ source('sim', 'titles') }}

),

renamed as (

    select
        title_id,
        title_name,
        title_type,
        cast(release_year as {{ dbt.type_int() }}) as release_year,
        released_at,
        age_certification,
        runtime_minutes,
        genres as genre_ids,
        production_countries as country_codes,
        cast(season_count as {{ dbt.type_int() }}) as season_count,
        cast(imdb_score as decimal(3, 1)) as imdb_score,
        imdb_vote_count

    from source

)

select * from renamed
