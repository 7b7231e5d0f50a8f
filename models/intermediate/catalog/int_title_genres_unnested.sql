with

catalog_titles as (

    select
        title_id,
        genres_list
    from {{ ref('stg_netflix__titles') }}

),

simulated_titles as (

    select
        title_id,
        genre_ids
    from {{ ref('stg_sim__titles') }}

),

genre_elements as (

    -- the catalogue's lists are Python literals; simulated titles' are arrays
    {{ parse_list_literal('catalog_titles', 'title_id', 'genres_list') }}
    union all
    select
        simulated_titles.title_id,
        listed.list_element,
        cast(listed.element_position as {{ dbt.type_int() }}) as element_position
    from simulated_titles
    {{ numbered_list_elements('simulated_titles.genre_ids', 'list_element', 'element_position') }}

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
