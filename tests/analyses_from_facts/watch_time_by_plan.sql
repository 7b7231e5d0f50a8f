-- How much do the subscribers of each plan watch, and what share of them
-- has cancelled? Users without any session count as watching nothing.
with

viewing_by_user as (
    select
        user_id,
        count(*) as session_count,
        sum(minutes_watched) as minutes_watched
    from marts.fact_sessions
    group by user_id
)

select
    subscribers.plan,
    count(*) as user_count,
    round(avg(case when subscribers.is_churned then 1.0 else 0.0 end), 3) as churned_share,
    round(
        cast(avg(coalesce(viewing_by_user.minutes_watched, 0)) / 60 as numeric), 1
    ) as hours_per_user,
    round(avg(coalesce(viewing_by_user.session_count, 0)), 1) as sessions_per_user
from marts.dim_users as subscribers
left join viewing_by_user
    on subscribers.user_id = viewing_by_user.user_id
group by subscribers.plan
order by hours_per_user desc;
