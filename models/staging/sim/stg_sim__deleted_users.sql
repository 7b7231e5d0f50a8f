with

source as (

    select * from {{ source('sim', 'deleted_users') }}

),

renamed as (

    select
        user_id,
        deleted_at,
        written_xid as row_xid

    from source

)

select * from renamed
