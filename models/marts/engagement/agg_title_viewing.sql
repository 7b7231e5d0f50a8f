-- Viewing per title, every title of the catalogue (zeros where nobody
-- watched): rebuilt by each build from agg_user_title_viewing, one row per
-- viewer and title, so that distinct viewers are a count, not a distinct.

with

titles as (

    select title_id from {{ ref('dim_titles') }}

),

viewing as (

    select
        title_id,
        count(*) as viewer_count,
        sum(session_count) as session_count,
        {{ exact_sum('minutes_watched', '1e-6') }} as minutes_watched
    from {{ ref('agg_user_title_viewing') }}
    group by title_id

),

final as (

    select
        titles.title_id,
        coalesce(viewing.viewer_count, 0) as viewer_count,
        cast(coalesce(viewing.session_count, 0) as bigint) as session_count,
        coalesce(viewing.minutes_watched, 0) as minutes_watched
    from titles
    left join viewing
        on titles.title_id = viewing.title_id

)

select * from final
