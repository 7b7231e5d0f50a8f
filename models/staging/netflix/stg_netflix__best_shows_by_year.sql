with

source as (

    select * from {{ source('netflix', 'best_shows_by_year') }}

),

renamed as (

    select
        title as title_name,
        release_year,
        score,
        number_of_seasons as season_count,
        main_genre as main_genre_label,
        main_production as main_country_code

    from source

)

select * from renamed
