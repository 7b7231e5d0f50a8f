-- Viewing per genre, each session counted toward its title's main genre only
-- (so no minute counts twice), every genre (zeros where nobody watched):
-- rebuilt by each build from agg_user_title_viewing.

with

genres as (

    select genre_id from {{ ref('dim_genres') }}

),

main_genres as (

    select
        title_id,
        genre_id
    from {{ ref('bridge_title_genres') }}
    where is_main_genre

),

viewer_genres as (

    select
        main_genres.genre_id,
        pairs.user_id,
        sum(pairs.session_count) as session_count,
        {{ exact_sum('pairs.minutes_watched', '1e-6') }} as minutes_watched
    from {{ ref('agg_user_title_viewing') }} as pairs
    inner join main_genres
        on pairs.title_id = main_genres.title_id
    group by main_genres.genre_id, pairs.user_id

),

viewing as (

    select
        genre_id,
        count(*) as viewer_count,
        sum(session_count) as session_count,
        {{ exact_sum('minutes_watched', '1e-6') }} as minutes_watched
    from viewer_genres
    group by genre_id

),

final as (

    select
        genres.genre_id,
        coalesce(viewing.viewer_count, 0) as viewer_count,
        cast(coalesce(viewing.session_count, 0) as bigint) as session_count,
        coalesce(viewing.minutes_watched, 0) as minutes_watched
    from genres
    left join viewing
        on genres.genre_id = viewing.genre_id

)

select * from final
