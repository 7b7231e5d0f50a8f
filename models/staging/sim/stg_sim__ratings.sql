with

source as (

    select * from {{ source('sim', 'ratings') }}

),

renamed as (

    select
        session_id,
        rating,
        rated_at,
        written_xid as row_xid

    from source

)

select * from renamed
