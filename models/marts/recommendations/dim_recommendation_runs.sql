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
        runs.run_id,
        runs.published_at as run_published_at
    from runs
    where
        runs.published_at is not null
        and exists (
            select 1 from recommendations
            where recommendations.run_id = runs.run_id
        )

)

select * from final
