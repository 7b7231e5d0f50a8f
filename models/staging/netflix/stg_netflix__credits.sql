with

source as (

    select * from {{ source('netflix', 'credits') }}

),

renamed as (

    select
        id as title_id,
        person_id,
        name as person_name,
        lower(role) as credit_role,
        nullif(character, '') as character_name

    from source

)

select * from renamed
