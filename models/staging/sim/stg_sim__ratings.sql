with

source as (

    select * from {{ source('sim', 'ratings') }}

),

renamed as (

    select
        session_id,
        rating,
        rated_at,
        loaded_seq

    from source

)

select * from renamed
