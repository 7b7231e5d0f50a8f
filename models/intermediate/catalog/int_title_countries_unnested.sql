with

catalog_titles as (

    select
        title_id,
        production_countries_list
    from {{ ref('stg_netflix__titles') }}

),

simulated_titles as (

    select
        title_id,
        country_codes
    from {{ ref('stg_sim__titles') }}

),

countries as (

    select
        country_code,
        country_name
    from {{ ref('countries') }}

),

country_elements as (

    -- the catalogue's lists are Python literals; simulated titles' are arrays
    -- of codes
    {{ parse_list_literal('catalog_titles', 'title_id', 'production_countries_list') }}
    union all
    select
        simulated_titles.title_id,
        listed.list_element,
        cast(listed.element_position as {{ dbt.type_int() }}) as element_position
    from simulated_titles
    {{ numbered_list_elements(
        'simulated_titles.country_codes', 'list_element', 'element_position'
    ) }}

),

coded_elements as (

    -- two letters are a code; anything longer is a country spelled out
    -- (e.g. Lebanon) and is looked up by name in the countries seed
    select
        country_elements.title_id,
        country_elements.element_position,
        case
            when {{ dbt.length('country_elements.list_element') }} = 2
                then upper(country_elements.list_element)
            else countries_by_name.country_code
        end as country_code
    from country_elements
    left join countries as countries_by_name
        on
            {{ dbt.length('country_elements.list_element') }} > 2
            and lower(countries_by_name.country_name) = lower(country_elements.list_element)

),

distinct_title_countries as (

    -- a country listed twice (or once by code and once by name) keeps its
    -- first position
    select
        title_id,
        country_code,
        min(element_position) as first_position
    from coded_elements
    group by
        title_id,
        country_code

),

numbered as (

    select
        title_id,
        country_code,
        cast(row_number() over (
            partition by title_id
            order by first_position
        ) as {{ dbt.type_int() }}) as country_position
    from distinct_title_countries

)

select * from numbered
