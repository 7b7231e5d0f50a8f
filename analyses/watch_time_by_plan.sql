-- How much do the subscribers of each plan watch, and what share of them
-- has cancelled? Users without any session count as watching nothing.
select
    plan,
    user_count,
    round(cast(churned_user_count as numeric) / user_count, 3) as churned_share,
    round(cast(minutes_watched / user_count / 60 as numeric), 1) as hours_per_user,
    round(cast(session_count as numeric) / user_count, 1) as sessions_per_user
from marts.agg_plan_viewing
order by hours_per_user desc;
