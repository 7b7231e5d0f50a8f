-- The simulated catalogue rows in the marts are exactly those of the landing
-- tables: titles, their genres and countries in list order, and credits.
-- Returns each difference with the mart it concerns.

with

landing_titles as (

    select title_id
    from {{ source('sim', 'titles') }}

),

mart_titles as (

    select title_id
    from {{ ref('dim_titles') }}
    where source = 'simulation'

),

landing_genres as (

    select
        titles.title_id,
        listed.genre_id,
        listed.genre_position
    from {{ source('sim', 'titles') }} as titles
    {{ numbered_list_elements('titles.genres', 'genre_id', 'genre_position') }}

),

mart_genres as (

    select
        title_id,
        genre_id,
        genre_position
    from {{ ref('bridge_title_genres') }}
    where source = 'simulation'

),

landing_countries as (

    select
        titles.title_id,
        listed.country_code,
        listed.country_position
    from {{ source('sim', 'titles') }} as titles
    {{ numbered_list_elements('titles.production_countries', 'country_code', 'country_position') }}

),

mart_countries as (

    select
        title_id,
        country_code,
        country_position
    from {{ ref('bridge_title_prod_countries') }}
    where source = 'simulation'

),

landing_credits as (

    select
        title_id,
        person_id,
        credit_role
    from {{ source('sim', 'credits') }}

),

mart_credits as (

    select
        title_id,
        person_id,
        credit_role
    from {{ ref('dim_credits') }}
    where source = 'simulation'

),

differences as (

    (select 'dim_titles' as mart, title_id from landing_titles
        except select 'dim_titles' as mart, title_id from mart_titles)
    union all
    (select 'dim_titles' as mart, title_id from mart_titles
        except select 'dim_titles' as mart, title_id from landing_titles)
    union all
    (select 'bridge_title_genres' as mart, title_id from (
        (select * from landing_genres except select * from mart_genres)
        union all
        (select * from mart_genres except select * from landing_genres)
    ) as genre_differences)
    union all
    (select 'bridge_title_prod_countries' as mart, title_id from (
        (select * from landing_countries except select * from mart_countries)
        union all
        (select * from mart_countries except select * from landing_countries)
    ) as country_differences)
    union all
    (select 'dim_credits' as mart, title_id from (
        (select * from landing_credits except select * from mart_credits)
        union all
        (select * from mart_credits except select * from landing_credits)
    ) as credit_differences)

)

select * from differences
