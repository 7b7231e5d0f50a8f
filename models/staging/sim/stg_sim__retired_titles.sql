{{ config(tags=['catalog']) }}

with

source as (

    select * from {{ source('sim', 'retired_titles') }}

),

renamed as (

    select
        title_id,
        retired_at

    from source

)

select * from renamed
