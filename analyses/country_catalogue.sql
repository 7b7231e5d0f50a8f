-- What does the catalogue hold from one production country (here Japan)?
-- Its titles, best rated first, with their main genre and best-of flags.
select
    titles.title_name,
    titles.title_type,
    titles.release_year,
    genres.genre_name as main_genre,
    titles.imdb_score,
    titles.is_all_time_best,
    titles.is_year_best,
    title_countries.is_main_country
from marts.dim_prod_countries as countries
inner join marts.bridge_title_prod_countries as title_countries
    on countries.country_code = title_countries.country_code
inner join marts.dim_titles as titles
    on title_countries.title_id = titles.title_id
left join marts.bridge_title_genres as title_genres
    on
        titles.title_id = title_genres.title_id
        and title_genres.is_main_genre
left join marts.dim_genres as genres
    on title_genres.genre_id = genres.genre_id
where countries.country_name = 'Japan'
order by titles.imdb_score desc nulls last, titles.title_name asc
limit 25;
