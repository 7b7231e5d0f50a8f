-- dim_persons keeps one name per person: the catalogue and the simulation
-- must credit each person under a single name. Returns the persons with more
-- than one.

with

person_names as (

    select
        person_id,
        count(distinct person_name) as name_count
    from {{ ref('int_credits_unioned') }}
    group by person_id

)

select *
from person_names
where name_count > 1
