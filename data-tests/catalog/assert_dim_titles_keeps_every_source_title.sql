-- Every raw title is in dim_titles exactly once, and dim_titles holds nothing
-- else: returns the ids on one side only or duplicated.

with

source_titles as (

    select
        id as title_id,
        count(*) as source_count
    from {{ source('netflix', 'titles') }}
    group by id

),

mart_titles as (

    select
        title_id,
        count(*) as mart_count
    from {{ ref('dim_titles') }}
    where source = 'catalog'
    group by title_id

),

compared as (

    select
        coalesce(source_titles.title_id, mart_titles.title_id) as title_id,
        coalesce(source_titles.source_count, 0) as source_count,
        coalesce(mart_titles.mart_count, 0) as mart_count
    from source_titles
    full outer join mart_titles
        on source_titles.title_id = mart_titles.title_id

)

select *
from compared
where source_count <> mart_count
