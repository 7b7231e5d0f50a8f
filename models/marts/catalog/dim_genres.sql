with

genres as (

    select * from {{ ref('genres') }}

),

final as (

    select
        cast(genre_id as {{ dbt.type_string() }}) as genre_id,
        cast(genre_name as {{ dbt.type_string() }}) as genre_name,
        cast(best_of_label as {{ dbt.type_string() }}) as best_of_label
    from genres

)

select * from final
