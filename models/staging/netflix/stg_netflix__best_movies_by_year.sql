with

source as (

    select * from {{ source('netflix', 'best_movies_by_year') }}

),

renamed as (

    select
        title as title_name,
        release_year,
        score,
        main_genre as main_genre_label,
        main_production as main_country_code

    from source

)

select * from renamed
