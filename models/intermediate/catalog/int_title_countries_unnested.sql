with

titles as (

    select
        title_id,
        production_countries_list
    from {{ ref('stg_netflix__titles') }}

),

countries as (

    select
        country_code,
        country_name
    from {{ ref('countries') }}

),

country_elements as (

    {{ parse_list_literal('titles', 'title_id', 'production_countries_list') }}

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
