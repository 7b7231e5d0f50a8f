-- Viewing per genre, each session counted toward its title's main genre only
-- (so no minute counts twice), every genre (zeros where nobody watched):
-- rebuilt by each build from agg_user_genre_viewing, one row per viewer and
-- genre, so that distinct viewers are a count, not a distinct.

with

genres as (

    select genre_id from {{ ref('dim_genres') }}

),

viewing as (

    select
        genre_id,
        count(*) as viewer_count,
        sum(session_count) as session_count,
        {{ exact_sum('minutes_watched', '1e-6') }} as minutes_watched
    from {{ ref('agg_user_genre_viewing') }}
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
