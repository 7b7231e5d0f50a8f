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
        title_id,
        genre_id,
        genre_position
    from {{ source('sim', 'titles') }} as sim_titles
    {{ numbered_list_elements('sim_titles.genres', 'genre_id', 'genre_position') }}

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
        title_id,
        country_code,
        country_position
    from {{ source('sim', 'titles') }} as sim_titles
    {{ numbered_list_elements(
        'sim_titles.production_countries', 'country_code', 'country_position'
    ) }}

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

titles_missing as (

    select title_id from landing_titles
    except
    select title_id from mart_titles

),

titles_extra as (

    select title_id from mart_titles
    except
    select title_id from landing_titles

),

genres_missing as (

    select * from landing_genres
    except
    select * from mart_genres

),

genres_extra as (

    select * from mart_genres
    except
    select * from landing_genres

),

countries_missing as (

    select * from landing_countries
    except
    select * from mart_countries

),

countries_extra as (

    select * from mart_countries
    except
    select * from landing_countries

),

credits_missing as (

    select * from landing_credits
    except
    select * from mart_credits

),

credits_extra as (

    select * from mart_credits
    except
    select * from landing_credits

),

differences as (

    select
        'dim_titles' as mart,
        title_id
    from titles_missing
    union all
    select
        'dim_titles' as mart,
        title_id
    from titles_extra
    union all
    select
        'bridge_title_genres' as mart,
        title_id
    from genres_missing
    union all
    select
        'bridge_title_genres' as mart,
        title_id
    from genres_extra
    union all
    select
        'bridge_title_prod_countries' as mart,
        title_id
    from countries_missing
    union all
    select
        'bridge_title_prod_countries' as mart,
        title_id
    from countries_extra
    union all
    select
        'dim_credits' as mart,
        title_id
    from credits_missing
    union all
    select
        'dim_credits' as mart,
        title_id
    from credits_extra

)

select * from differences
