-- Every raw credit row is in dim_credits (the same number of times), and
-- dim_credits holds nothing else: compares the two as multisets over title,
-- person, role and character.

with

source_credits as (

    select
        id as title_id,
        person_id,
        lower(role) as credit_role,
        nullif(character, '') as character_name,
        count(*) as source_count
    from {{ source('netflix', 'credits') }}
    group by
        id,
        person_id,
        lower(role),
        nullif(character, '')

),

mart_credits as (

    select
        title_id,
        person_id,
        credit_role,
        character_name,
        count(*) as mart_count
    from {{ ref('dim_credits') }}
    where source = 'catalog'
    group by
        title_id,
        person_id,
        credit_role,
        character_name

),

compared as (

    -- character_name is null for many credits: compare it null-safely
    select
        coalesce(source_credits.title_id, mart_credits.title_id) as title_id,
        coalesce(source_credits.person_id, mart_credits.person_id) as person_id,
        coalesce(source_credits.credit_role, mart_credits.credit_role) as credit_role,
        coalesce(source_credits.character_name, mart_credits.character_name) as character_name,
        coalesce(source_credits.source_count, 0) as source_count,
        coalesce(mart_credits.mart_count, 0) as mart_count
    from source_credits
    full outer join mart_credits
        on
            source_credits.title_id = mart_credits.title_id
            and source_credits.person_id = mart_credits.person_id
            and source_credits.credit_role = mart_credits.credit_role
            and (
                source_credits.character_name = mart_credits.character_name
                or (source_credits.character_name is null and mart_credits.character_name is null)
            )

)

select *
from compared
where source_count <> mart_count
