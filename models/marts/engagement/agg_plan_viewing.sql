-- Viewing per subscription plan (users' current plan), users without any
-- session counted as watching nothing: rebuilt by each build from dim_users
-- and agg_user_viewing.

with

users as (

    select * from {{ ref('dim_users') }}

),

viewing_by_user as (

    select * from {{ ref('agg_user_viewing') }}

),

final as (

    select
        users.plan,
        count(*) as user_count,
        count(*) filter (where users.is_churned) as churned_user_count,
        cast(coalesce(sum(viewing_by_user.session_count), 0) as bigint) as session_count,
        coalesce({{ exact_sum('viewing_by_user.minutes_watched', '1e-6') }}, 0) as minutes_watched
    from users
    left join viewing_by_user
        on users.user_id = viewing_by_user.user_id
    group by users.plan

)

select * from final
