-- Every session and every rating written up to fact_sessions' latest build,
-- since the watermark that build started from, is in fact_sessions at its
-- latest version (a loaded_seq at least the landing row's): returns those
-- that are missing or stale. After a full build the watermark is 0 and every
-- session is checked; after an incremental one, the rows it had to take.
-- Rows written after the build (loaded_seq above the fact's largest) wait for
-- the next one.

{%- set latest_build = latest_build_filter(ref('fact_sessions')) %}

with

-- The fact's rows of the latest build: a landing row above the watermark is
-- matched only by a fact row with a loaded_seq at least its own, so above the
-- watermark too (both sides are read through their loaded_seq indexes).
fact_sessions as (

    select
        session_id,
        loaded_seq
    from {{ ref('fact_sessions') }}
    where {{ latest_build }}

),

latest_loaded as (

    -- From the table, not the CTE above (PostgreSQL would materialise a CTE
    -- referenced twice): one probe of the loaded_seq index.
    select max(loaded_seq) as max_loaded_seq
    from {{ ref('fact_sessions') }}

),

landing_changes as (

    select
        session_id,
        loaded_seq
    from {{ ref('stg_sim__sessions') }}
    where {{ latest_build }}

    union all

    select
        session_id,
        loaded_seq
    from {{ ref('stg_sim__ratings') }}
    where {{ latest_build }}

),

built_changes as (

    select
        landing_changes.session_id,
        landing_changes.loaded_seq
    from landing_changes
    cross join latest_loaded
    where landing_changes.loaded_seq <= latest_loaded.max_loaded_seq

)

select built_changes.*
from built_changes
left join fact_sessions
    on
        built_changes.session_id = fact_sessions.session_id
        and built_changes.loaded_seq <= fact_sessions.loaded_seq
where fact_sessions.session_id is null
