-- Which actors appear in the titles users watch most? The viewing hours of
-- every watched title a person acted in, summed per person.
with

actors_by_title as (
    select distinct
        title_id,
        person_id
    from marts.dim_credits
    where credit_role = 'actor'
)

select
    persons.person_name,
    count(*) as title_count,
    round(cast(sum(title_viewing.minutes_watched) / 60 as numeric), 1) as hours_watched
from actors_by_title
inner join marts.agg_title_viewing as title_viewing
    on actors_by_title.title_id = title_viewing.title_id
inner join marts.dim_persons as persons
    on actors_by_title.person_id = persons.person_id
where title_viewing.session_count > 0
group by persons.person_id, persons.person_name
order by hours_watched desc, persons.person_name asc
limit 15;
