{{
    config(
        materialized='view',
        tags=['recommendations']
    )
}}

with

runs as (

    select * from {{ ref('stg_recs__runs') }}

),

recommendations as (

    select * from {{ ref('stg_recs__recommendations') }}

),

-- A run is published with its rows (python_api publishes them together); a
-- published run whose rows were all deleted since is left out, as
-- fact_recommendations has nothing of it. Its first row is looked up by key
-- (a lateral subquery, `limit 1`): an EXISTS would be planned as a semi-join
-- hashing every run's rows, 130 ms for one run of 400,000 rows. (noqa ST05: a
-- lateral subquery cannot be a CTE.)
final as (

    select
        runs.run_id,
        runs.published_at as run_published_at
    from runs
    cross join
        lateral (  -- noqa: ST05
            select 1 as has_rows
            from recommendations
            where recommendations.run_id = runs.run_id  -- noqa: RF03
            limit 1  -- noqa: AM09
        ) as first_row
    where runs.published_at is not null

)

select * from final
