-- Which actors appear in the titles users watch most? The viewing hours of
-- every title a person acted in, summed per person.
with

hours_by_title as (
    select
        title_id,
        sum(minutes_watched) / 60 as hours_watched
    from marts.fact_sessions
    group by title_id
),

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
    round(cast(sum(hours_by_title.hours_watched) as numeric), 1) as hours_watched
from actors_by_title
inner join hours_by_title
    on actors_by_title.title_id = hours_by_title.title_id
inner join marts.dim_persons as persons
    on actors_by_title.person_id = persons.person_id
group by persons.person_id, persons.person_name
order by hours_watched desc, persons.person_name asc
limit 15;
