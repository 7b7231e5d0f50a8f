with

title_sources as (

    select
        title_id,
        source
    from {{ ref('int_titles_unioned') }}

),

title_genres as (

    select * from {{ ref('int_title_genres_unnested') }}

),

best_of_main_genres as (

    -- a title on several lists may have several main genres; each pair once
    select distinct
        title_id,
        main_genre_id
    from {{ ref('int_best_of_entries_matched') }}

),

ranked as (

    -- main genre: the best-of lists' main genre when the title is on a list
    -- and lists that genre itself, else the genre listed first
    select
        title_genres.title_id,
        title_genres.genre_id,
        title_genres.genre_position,
        row_number() over (
            partition by title_genres.title_id
            order by
                case when best_of_main_genres.main_genre_id is not null then 0 else 1 end,
                title_genres.genre_position
        ) as main_genre_rank
    from title_genres
    left join best_of_main_genres
        on
            title_genres.title_id = best_of_main_genres.title_id
            and title_genres.genre_id = best_of_main_genres.main_genre_id

),

final as (

    select
        ranked.title_id,
        ranked.genre_id,
        ranked.genre_position,
        ranked.main_genre_rank = 1 as is_main_genre,
        title_sources.source
    from ranked
    inner join title_sources
        on ranked.title_id = title_sources.title_id

)

select * from final
