with

titles as (

    select
        title_id,
        genres_list
    from {{ ref('stg_netflix__titles') }}

),

genre_elements as (

    {{ parse_list_literal('titles', 'title_id', 'genres_list') }}

),

distinct_title_genres as (

    -- a genre listed twice for one title keeps its first position
    select
        title_id,
        lower(list_element) as genre_id,
        min(element_position) as first_position
    from genre_elements
    group by
        title_id,
        lower(list_element)

),

numbered as (

    select
        title_id,
        genre_id,
        cast(row_number() over (
            partition by title_id
            order by first_position
        ) as {{ dbt.type_int() }}) as genre_position
    from distinct_title_genres

)

select * from numbered
