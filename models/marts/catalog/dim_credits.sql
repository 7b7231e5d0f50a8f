{{ config(indexes=[{'columns': ['title_id']}, {'columns': ['person_id']}]) }}

with

credits as (

    select * from {{ ref('int_credits_unioned') }}

),

final as (

    select
        {{ surrogate_key([
            'title_id',
            'person_id',
            'credit_role',
            'character_name',
        ]) }} as credit_id,
        title_id,
        person_id,
        credit_role,
        character_name,
        source
    from credits

)

select * from final
