with

source as (

    select * from {{ source('netflix', 'best_shows') }}

),

renamed as (

    select
        title as title_name,
        release_year,
        score,
        number_of_votes as vote_count,
        duration as duration_minutes,
        number_of_seasons as season_count,
        main_genre as main_genre_label,
        main_production as main_country_code

    from source

)

select * from renamed
