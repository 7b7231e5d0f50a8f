with

credits as (

    select
        person_id,
        person_name,
        source
    from {{ ref('int_credits_unioned') }}

),

final as (

    -- one name per person in the source (tested); min() keeps the grain
    -- should a person ever be credited under two spellings
    -- a person credited in the catalogue is the catalogue's, even when a
    -- simulation credits them too
    select
        person_id,
        min(person_name) as person_name,
        min(source) as source
    from credits
    group by person_id

)

select * from final
