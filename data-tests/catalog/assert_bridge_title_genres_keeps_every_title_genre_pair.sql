-- Every distinct (title, genre) pair of the raw genre lists is in
-- bridge_title_genres, and the bridge holds no other pair. The raw lists are
-- parsed here with the portable split_part implementation of
-- parse_list_literal, independently of the one the models use.

with

source_titles as (

    select
        id as title_id,
        genres as genres_list
    from {{ source('netflix', 'titles') }}

),

source_elements as (

    {{ recdb.default__parse_list_literal('source_titles', 'title_id', 'genres_list') }}

),

source_pairs as (

    select distinct
        title_id,
        lower(list_element) as genre_id
    from source_elements

),

mart_pairs as (

    select
        title_id,
        genre_id
    from {{ ref('bridge_title_genres') }}
    where source = 'catalog'

),

missing_from_mart as (

    select
        'missing from bridge_title_genres' as problem,
        source_pairs.title_id,
        source_pairs.genre_id
    from source_pairs
    left join mart_pairs
        on
            source_pairs.title_id = mart_pairs.title_id
            and source_pairs.genre_id = mart_pairs.genre_id
    where mart_pairs.title_id is null

),

not_in_source as (

    select
        'not in the raw genre lists' as problem,
        mart_pairs.title_id,
        mart_pairs.genre_id
    from mart_pairs
    left join source_pairs
        on
            mart_pairs.title_id = source_pairs.title_id
            and mart_pairs.genre_id = source_pairs.genre_id
    where source_pairs.title_id is null

)

select * from missing_from_mart
union all
select * from not_in_source
