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
-- fact_recommendations has nothing of it.
final as (

    select
        run_id,
        published_at as run_published_at
    from runs
    where
        published_at is not null
        and exists (
            select 1 as has_rows from recommendations
            where recommendations.run_id = runs.run_id  -- noqa: RF03
        )

)

select * from final
