{{ config(tags=['catalog']) }}

with

source as (

    select * from {{ source('sim', 'credits') }}

),

renamed as (

    select
        title_id,
        person_id,
        person_name,
        credit_role,
        character_name

    from source

)

select * from renamed
