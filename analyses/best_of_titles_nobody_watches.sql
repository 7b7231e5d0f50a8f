-- Which best-of titles are watched least? Titles on an all-time or a year's
-- best list, fewest viewers first: those at 0 nobody has watched at all.
select
    titles.title_name,
    titles.title_type,
    titles.release_year,
    titles.is_all_time_best,
    titles.is_year_best,
    titles.imdb_score,
    title_viewing.viewer_count
from marts.dim_titles as titles
inner join marts.agg_title_viewing as title_viewing
    on titles.title_id = title_viewing.title_id
where titles.is_all_time_best or titles.is_year_best
order by title_viewing.viewer_count asc, titles.imdb_score desc nulls last, titles.title_name asc
limit 20;
