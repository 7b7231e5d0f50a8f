with

source as (

    select * from {{ source('sim', 'deleted_ratings') }}

),

renamed as (

    select
        session_id,
        deleted_at,
        written_xid as row_xid

    from source

)

select * from renamed
