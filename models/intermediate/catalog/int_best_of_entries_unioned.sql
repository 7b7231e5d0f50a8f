with

best_movies as (

    select * from {{ ref('stg_netflix__best_movies') }}

),

best_movies_by_year as (

    select * from {{ ref('stg_netflix__best_movies_by_year') }}

),

best_shows as (

    select * from {{ ref('stg_netflix__best_shows') }}

),

best_shows_by_year as (

    select * from {{ ref('stg_netflix__best_shows_by_year') }}

),

genres as (

    select
        genre_id,
        best_of_label
    from {{ ref('genres') }}

),

unioned as (

    select
        'all_time' as list_kind,
        'movie' as title_type,
        title_name,
        release_year,
        score,
        vote_count,
        duration_minutes,
        cast(null as {{ dbt.type_int() }}) as season_count,
        main_genre_label,
        main_country_code
    from best_movies

    union all

    select
        'by_year' as list_kind,
        'movie' as title_type,
        title_name,
        release_year,
        score,
        cast(null as {{ dbt.type_int() }}) as vote_count,
        cast(null as {{ dbt.type_int() }}) as duration_minutes,
        cast(null as {{ dbt.type_int() }}) as season_count,
        main_genre_label,
        main_country_code
    from best_movies_by_year

    union all

    select
        'all_time' as list_kind,
        'show' as title_type,
        title_name,
        release_year,
        score,
        vote_count,
        duration_minutes,
        season_count,
        main_genre_label,
        main_country_code
    from best_shows

    union all

    select
        'by_year' as list_kind,
        'show' as title_type,
        title_name,
        release_year,
        score,
        cast(null as {{ dbt.type_int() }}) as vote_count,
        cast(null as {{ dbt.type_int() }}) as duration_minutes,
        season_count,
        main_genre_label,
        main_country_code
    from best_shows_by_year

),

normalised as (

    -- the lists say documentary, musical, sports where titles say
    -- documentation, music, sport: the genres seed's best_of_label maps them;
    -- a label that is already a genre id is taken as it is
    select
        {{ surrogate_key([
            'unioned.list_kind',
            'unioned.title_type',
            'unioned.title_name',
            'unioned.release_year',
        ]) }} as best_of_entry_id,
        unioned.list_kind,
        unioned.title_type,
        unioned.title_name,
        unioned.release_year,
        unioned.score,
        unioned.vote_count,
        unioned.duration_minutes,
        unioned.season_count,
        unioned.main_genre_label,
        coalesce(genres_by_label.genre_id, genres_by_id.genre_id) as main_genre_id,
        upper(unioned.main_country_code) as main_country_code
    from unioned
    left join genres as genres_by_label
        on lower(unioned.main_genre_label) = genres_by_label.best_of_label
    left join genres as genres_by_id
        on lower(unioned.main_genre_label) = genres_by_id.genre_id

)

select * from normalised
