with

catalog_credits as (

    select
        title_id,
        person_id,
        person_name,
        credit_role,
        character_name,
        'catalog' as source
    from {{ ref('stg_netflix__credits') }}

),

simulated_credits as (

    select
        title_id,
        person_id,
        person_name,
        credit_role,
        character_name,
        'simulation' as source
    from {{ ref('stg_sim__credits') }}

),

unioned as (

    select * from catalog_credits
    union all
    select * from simulated_credits

)

select * from unioned
