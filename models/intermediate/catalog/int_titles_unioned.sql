with

catalog_titles as (

    select
        title_id,
        title_name,
        title_type,
        release_year,
        cast(null as {{ var('types')[target.type].timestamptz }}) as released_at,
        age_certification,
        runtime_minutes,
        season_count,
        imdb_id,
        imdb_score,
        imdb_vote_count,
        'catalog' as source
    from {{ ref('stg_netflix__titles') }}

),

simulated_titles as (

    select
        title_id,
        title_name,
        title_type,
        release_year,
        released_at,
        age_certification,
        runtime_minutes,
        season_count,
        cast(null as {{ dbt.type_string() }}) as imdb_id,
        imdb_score,
        imdb_vote_count,
        'simulation' as source
    from {{ ref('stg_sim__titles') }}

),

unioned as (

    select * from catalog_titles
    union all
    select * from simulated_titles

)

select * from unioned
