-- Every row of the four raw best-of lists matches exactly one raw title on
-- (title, release_year, type), and int_best_of_entries_matched holds each
-- list's rows once, each with that title. Returns the entries that fail, and
-- the lists whose row counts differ.

with

source_entries as (

    select
        'all_time' as list_kind,
        'MOVIE' as source_type,
        title,
        release_year
    from {{ source('netflix', 'best_movies') }}
    union all
    select
        'by_year' as list_kind,
        'MOVIE' as source_type,
        title,
        release_year
    from {{ source('netflix', 'best_movies_by_year') }}
    union all
    select
        'all_time' as list_kind,
        'SHOW' as source_type,
        title,
        release_year
    from {{ source('netflix', 'best_shows') }}
    union all
    select
        'by_year' as list_kind,
        'SHOW' as source_type,
        title,
        release_year
    from {{ source('netflix', 'best_shows_by_year') }}

),

source_titles as (

    select
        id as title_id,
        title,
        release_year,
        upper(type) as source_type
    from {{ source('netflix', 'titles') }}

),

matched as (

    select * from {{ ref('int_best_of_entries_matched') }}

),

candidates as (

    select
        source_entries.list_kind,
        lower(source_entries.source_type) as title_type,
        source_entries.title,
        source_entries.release_year,
        count(source_titles.title_id) as candidate_count,
        min(source_titles.title_id) as candidate_title_id
    from source_entries
    left join source_titles
        on
            source_entries.title = source_titles.title
            and source_entries.release_year = source_titles.release_year
            and source_entries.source_type = source_titles.source_type
    group by
        source_entries.list_kind,
        lower(source_entries.source_type),
        source_entries.title,
        source_entries.release_year

),

entry_failures as (

    select
        candidates.list_kind,
        candidates.title_type,
        candidates.title,
        candidates.release_year,
        candidates.candidate_count,
        count(matched.best_of_entry_id) as matched_count
    from candidates
    left join matched
        on
            candidates.list_kind = matched.list_kind
            and candidates.title_type = matched.title_type
            and candidates.title = matched.title_name
            and candidates.release_year = matched.release_year
            and candidates.candidate_title_id = matched.title_id
    group by
        candidates.list_kind,
        candidates.title_type,
        candidates.title,
        candidates.release_year,
        candidates.candidate_count
    having
        candidates.candidate_count <> 1
        or count(matched.best_of_entry_id) <> 1

),

source_list_counts as (

    select
        list_kind,
        lower(source_type) as title_type,
        count(*) as source_count
    from source_entries
    group by
        list_kind,
        lower(source_type)

),

matched_list_counts as (

    select
        list_kind,
        title_type,
        count(*) as matched_count
    from matched
    group by
        list_kind,
        title_type

),

count_failures as (

    select
        coalesce(source_list_counts.list_kind, matched_list_counts.list_kind) as list_kind,
        coalesce(source_list_counts.title_type, matched_list_counts.title_type) as title_type,
        cast(null as {{ dbt.type_string() }}) as title,
        cast(null as {{ dbt.type_int() }}) as release_year,
        coalesce(source_list_counts.source_count, 0) as candidate_count,
        coalesce(matched_list_counts.matched_count, 0) as matched_count
    from source_list_counts
    full outer join matched_list_counts
        on
            source_list_counts.list_kind = matched_list_counts.list_kind
            and source_list_counts.title_type = matched_list_counts.title_type
    where
        coalesce(source_list_counts.source_count, 0)
        <> coalesce(matched_list_counts.matched_count, 0)

)

select * from entry_failures
union all
select * from count_failures
