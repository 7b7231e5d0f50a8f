-- Which genres do users spend the most time watching? Each session counts
-- toward its title's main genre, so no minute is counted twice.
with

main_genre_sessions as (
    select
        sessions.user_id,
        sessions.minutes_watched,
        title_genres.genre_id
    from marts.fact_sessions as sessions
    inner join marts.bridge_title_genres as title_genres
        on
            sessions.title_id = title_genres.title_id
            and title_genres.is_main_genre
)

select
    genres.genre_name,
    round(cast(sum(main_genre_sessions.minutes_watched) / 60 as numeric), 1) as hours_watched,
    count(distinct main_genre_sessions.user_id) as viewer_count,
    count(*) as session_count
from main_genre_sessions
inner join marts.dim_genres as genres
    on main_genre_sessions.genre_id = genres.genre_id
group by genres.genre_name
order by hours_watched desc
limit 10;
