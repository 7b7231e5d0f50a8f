with

source as (

    select * from {{ source('netflix', 'best_movies') }}

),

renamed as (

    select
        title as title_name,
        release_year,
        score,
        number_of_votes as vote_count,
        duration as duration_minutes,
        main_genre as main_genre_label,
        main_production as main_country_code

    from source

)

select * from renamed
