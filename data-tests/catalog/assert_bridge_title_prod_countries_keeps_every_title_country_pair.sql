-- Every distinct (title, country) pair of the raw production-country lists is
-- in bridge_title_prod_countries, and the bridge holds no other pair. The raw
-- lists are parsed here with the portable split_part implementation of
-- parse_list_literal, independently of the one the models use; a spelled-out
-- country is looked up by name in the countries seed.

with

source_titles as (

    select
        id as title_id,
        production_countries as production_countries_list
    from {{ source('netflix', 'titles') }}

),

countries as (

    select
        country_code,
        country_name
    from {{ ref('countries') }}

),

source_elements as (

    {{ recdb.default__parse_list_literal(
        'source_titles', 'title_id', 'production_countries_list'
    ) }}

),

source_pairs as (

    select distinct
        source_elements.title_id,
        coalesce(
            countries_by_name.country_code,
            upper(source_elements.list_element)
        ) as country_code
    from source_elements
    left join countries as countries_by_name
        on lower(source_elements.list_element) = lower(countries_by_name.country_name)

),

mart_pairs as (

    select
        title_id,
        country_code
    from {{ ref('bridge_title_prod_countries') }}
    where source = 'catalog'

),

missing_from_mart as (

    select
        'missing from bridge_title_prod_countries' as problem,
        source_pairs.title_id,
        source_pairs.country_code
    from source_pairs
    left join mart_pairs
        on
            source_pairs.title_id = mart_pairs.title_id
            and source_pairs.country_code = mart_pairs.country_code
    where mart_pairs.title_id is null

),

not_in_source as (

    select
        'not in the raw country lists' as problem,
        mart_pairs.title_id,
        mart_pairs.country_code
    from mart_pairs
    left join source_pairs
        on
            mart_pairs.title_id = source_pairs.title_id
            and mart_pairs.country_code = source_pairs.country_code
    where source_pairs.title_id is null

)

select * from missing_from_mart
union all
select * from not_in_source
