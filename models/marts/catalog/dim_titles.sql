with

titles as (

    select * from {{ ref('int_titles_unioned') }}

),

retired_titles as (

    select * from {{ ref('stg_sim__retired_titles') }}

),

best_of_entries as (

    select
        title_id,
        list_kind
    from {{ ref('int_best_of_entries_matched') }}

),

best_of_flags as (

    select
        title_id,
        max(case when list_kind = 'by_year' then 1 else 0 end) as year_best_flag,
        max(case when list_kind = 'all_time' then 1 else 0 end) as all_time_best_flag
    from best_of_entries
    group by title_id

),

final as (

    select
        titles.title_id,
        titles.title_name,
        titles.title_type,
        titles.release_year,
        titles.age_certification,
        titles.runtime_minutes,
        titles.season_count,
        titles.imdb_id,
        titles.imdb_score,
        titles.imdb_vote_count,
        coalesce(best_of_flags.year_best_flag = 1, false) as is_year_best,
        coalesce(best_of_flags.all_time_best_flag = 1, false) as is_all_time_best,
        titles.released_at,
        retired_titles.retired_at,
        retired_titles.title_id is not null as is_retired,
        titles.source
    from titles
    left join best_of_flags
        on titles.title_id = best_of_flags.title_id
    left join retired_titles
        on titles.title_id = retired_titles.title_id

)

select * from final
