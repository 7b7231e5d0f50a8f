-- Which genres do users spend the most time watching? Each session counts
-- toward its title's main genre, so no minute is counted twice.
select
    genres.genre_name,
    round(cast(genre_viewing.minutes_watched / 60 as numeric), 1) as hours_watched,
    genre_viewing.viewer_count,
    genre_viewing.session_count
from marts.agg_genre_viewing as genre_viewing
inner join marts.dim_genres as genres
    on genre_viewing.genre_id = genres.genre_id
where genre_viewing.session_count > 0
order by hours_watched desc
limit 10;
