with

best_of_entries as (

    select * from {{ ref('int_best_of_entries_unioned') }}

),

titles as (

    select
        title_id,
        title_name,
        release_year,
        title_type
    -- simulated titles too: one is a year's best by the same rules
    from {{ ref('int_titles_unioned') }}

),

matched as (

    -- the lists carry no title id: an entry is its title's on name, release
    -- year and type together (the name alone repeats across years and types).
    -- A left join keeps unmatched entries visible to the tests.
    select
        best_of_entries.best_of_entry_id,
        titles.title_id,
        best_of_entries.list_kind,
        best_of_entries.title_type,
        best_of_entries.title_name,
        best_of_entries.release_year,
        best_of_entries.score,
        best_of_entries.vote_count,
        best_of_entries.duration_minutes,
        best_of_entries.season_count,
        best_of_entries.main_genre_id,
        best_of_entries.main_country_code
    from best_of_entries
    left join titles
        on
            best_of_entries.title_name = titles.title_name
            and best_of_entries.release_year = titles.release_year
            and best_of_entries.title_type = titles.title_type

)

select * from matched
