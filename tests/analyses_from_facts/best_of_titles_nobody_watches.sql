-- Which best-of titles are watched least? Titles on an all-time or a year's
-- best list, fewest viewers first: those at 0 nobody has watched at all.
with

viewers_by_title as (
    select
        title_id,
        count(distinct user_id) as viewer_count
    from marts.fact_sessions
    group by title_id
)

select
    titles.title_name,
    titles.title_type,
    titles.release_year,
    titles.is_all_time_best,
    titles.is_year_best,
    titles.imdb_score,
    coalesce(viewers_by_title.viewer_count, 0) as viewer_count
from marts.dim_titles as titles
left join viewers_by_title
    on titles.title_id = viewers_by_title.title_id
where titles.is_all_time_best or titles.is_year_best
order by viewer_count asc, titles.imdb_score desc nulls last, titles.title_name asc
limit 20;
