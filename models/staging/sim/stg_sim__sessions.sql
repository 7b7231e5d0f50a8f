with

source as (

    select * from {{ source('sim', 'sessions') }}

),

renamed as (

    select
        session_id,
        user_id,
        title_id,
        started_at,
        ended_at,
        minutes_watched,
        completion_ratio,
        written_xid as row_xid

    from source

)

select * from renamed
