with

source as (

    select * from {{ source('sim', 'deleted_sessions') }}

),

renamed as (

    select
        session_id,
        user_id,
        title_id,
        deleted_at,
        written_xid as row_xid

    from source

)

select * from renamed
