with

credits as (

    select
        person_id,
        person_name
    from {{ ref('stg_netflix__credits') }}

),

final as (

    -- one name per person in the source (tested); min() keeps the grain
    -- should a person ever be credited under two spellings
    select
        person_id,
        min(person_name) as person_name
    from credits
    group by person_id

)

select * from final
