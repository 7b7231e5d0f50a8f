{#-
    Incremental models driven by commit order.

    A model built incrementally reads the landing rows that changed since its
    last build. "Since" is decided by the transaction that wrote each row, not
    by a number drawn while it was written (a writer that drew a number and
    committed after a build read a higher one was missed for good):

    * every landing table the marts are built from holds, in each row, the
      64-bit id of the transaction that last wrote it (written_xid, set by
      PostgreSQL: recdb/core/landing.py), exposed by the staging views as
      row_xid, and indexed;
    * the model's transaction reads one snapshot (REPEATABLE READ, set by
      read_from_one_snapshot as its first statement), and records that
      snapshot's xmin, the oldest transaction still running when it was taken
      (record_build_watermark, in the model's own transaction);
    * a row written by a transaction at or after the previous build's xmin may
      not have been visible to that build: changed_since_last_build takes it
      again. Every row written by a transaction that was running, or not yet
      started, when the previous snapshot was taken is at or after that xmin;
      the others were visible to it. Taking a row twice is harmless (the
      merge is idempotent); missing one is impossible.

    The condition compares row_xid with build_watermark(model), a STABLE SQL
    function: PostgreSQL evaluates it while planning, so it knows how few rows
    are that recent and reads them through the index, not the table.

    Writers never wait for a build, and a build never waits for writers.
    Deleted rows are recorded by the landing tables' delete triggers in
    sim.deleted_* (recdb/core/landing.py), whose rows are read by the same rule.
-#}

{#- Whether the engine keeps the marts incrementally by these rules: PostgreSQL,
    whose transaction ids order every write. Elsewhere (Spark) the marts are
    rebuilt whole at each build (incremental_materialization), the hooks below
    are left out, and data tests check every row. -#}
{% macro keeps_marts_incrementally() -%}
    {{ return(adapter.dispatch('keeps_marts_incrementally', 'recdb')()) }}
{%- endmacro %}

{% macro postgres__keeps_marts_incrementally() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro default__keeps_marts_incrementally() -%}
    {{ return(false) }}
{%- endmacro %}

{#- The materialization of a mart kept by these rules: incremental where
    keeps_marts_incrementally, else a table rebuilt whole. -#}
{% macro incremental_materialization() -%}
    {{ return('incremental' if keeps_marts_incrementally() else 'table') }}
{%- endmacro %}

{#- The id of the transaction that wrote a row's current version, in a table
    without written_xid: PostgreSQL's xmin. On Spark every landing table has
    written_xid, the number of the write that added the row. -#}
{% macro row_version_xid() -%}
    {{ return(adapter.dispatch('row_version_xid', 'recdb')()) }}
{%- endmacro %}

{% macro postgres__row_version_xid() -%}
    xmin
{%- endmacro %}

{% macro default__row_version_xid() -%}
    written_xid
{%- endmacro %}


{#- First statement of the model's transaction: one snapshot for all of it. -#}
{% macro read_from_one_snapshot() -%}
    {{ return(adapter.dispatch('read_from_one_snapshot', 'recdb')()) }}
{%- endmacro %}

{% macro postgres__read_from_one_snapshot() -%}
    set transaction isolation level repeatable read
{%- endmacro %}

{% macro default__read_from_one_snapshot() -%}
    select 1 as snapshot_isolation_is_the_engines_own
{%- endmacro %}


{#- The table of watermarks: one row per incremental model (or snapshot), in
    the owner's private schema: the xmin of the snapshot its latest build read
    (snapshot_xmin), the watermark that build took rows since (took_since, 0
    for a full build: the scoped data tests check the rows written since),
    and that build's transaction. build_watermark(model) reads the first.
    Created by the on-run-start hook. A table from before 64-bit watermarks
    (an xid snapshot_xmin, no took_since) is replaced: its watermarks cannot
    be widened, and without them the next build takes every row once. -#}
{% macro build_watermarks_relation() -%}
    {{ return(api.Relation.create(
        database=target.get('database'), schema=build_state_schema(), identifier='incremental_watermarks'
    )) }}
{%- endmacro %}


{#- The schema of the builds' own state (watermarks, viewing deltas):
    intermediate, without the audit suffix of recdb build's catalogue step,
    whose relations replace those of the same name when published (state
    created there replaced the watermarks with an empty table, and the next
    build redid every row). -#}
{% macro build_state_schema() -%}
    {{ return('intermediate') }}
{%- endmacro %}

{% macro build_watermark_function() -%}
    {{ build_watermarks_relation().include(identifier=false) }}.build_watermark
{%- endmacro %}

{% macro create_build_watermarks() -%}
    {{ return(adapter.dispatch('create_build_watermarks', 'recdb')()) }}
{%- endmacro %}

{% macro default__create_build_watermarks() -%}
    select 1 as watermarks_are_postgres_transaction_ids
{%- endmacro %}

{% macro postgres__create_build_watermarks() -%}
    {%- set watermarks = build_watermarks_relation() -%}
    do $migration$
    begin
        if to_regclass('{{ watermarks }}') is not null and not exists (
            select 1 from pg_attribute
            where attrelid = to_regclass('{{ watermarks }}') and attname = 'took_since'
        ) then
            drop table {{ watermarks }};
        end if;
    end
    $migration$;
    create table if not exists {{ watermarks }} (
        model_name text primary key,
        snapshot_xmin bigint not null,
        took_since bigint not null,
        built_xid xid not null,
        built_at timestamptz not null
    );
    create or replace function {{ build_watermark_function() }}(model text)
    returns bigint
    language sql stable
    as $function$
        select coalesce(
            (select snapshot_xmin from {{ watermarks }} where model_name = model), 0
        )
    $function$
{%- endmacro %}


{#- The watermark `model_name`'s latest build took rows since (took_since,
    read when the test runs), for the data tests scoped to the rows that build
    wrote; none after a full build, or with `--vars '{test_all_rows: true}'`:
    every row. -#}
{% macro latest_build_took_since(model_name) -%}
    {%- if not execute or var('test_all_rows', false) or not keeps_marts_incrementally() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set taken = run_query(
        "select coalesce((select took_since from " ~ build_watermarks_relation()
        ~ " where model_name = '" ~ model_name ~ "'), 0)"
    ).columns[0].values()[0] -%}
    {{ return(taken if taken > 0 else none) }}
{%- endmacro %}


{#- On-run-start: fresh statistics of the stamps, so that PostgreSQL knows how
    many rows were written since each model's watermark. Rows written since
    the last ANALYZE lie past the stamps' histogram, and PostgreSQL, taking
    them for none, joined 99,000 changed sessions to their ratings in a
    nested loop (151 s at 10M sessions; 2.6 s planned with fresh statistics).
    ANALYZE samples a fixed number of rows, the stamp column only (0.5 s at
    10M sessions); it takes no lock writers wait for. Other engines: a no-op. -#}
{% macro refresh_written_xid_statistics() -%}
    {{ return(adapter.dispatch('refresh_written_xid_statistics', 'recdb')()) }}
{%- endmacro %}

{% macro postgres__refresh_written_xid_statistics() -%}
    analyze
    {%- for table in ['users', 'sessions', 'ratings', 'deleted_users', 'deleted_sessions', 'deleted_ratings'] %}
        sim.{{ table }} (written_xid){{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro default__refresh_written_xid_statistics() -%}
    select 1 as statistics_left_to_the_engine
{%- endmacro %}


{#- True for a row written since the model's last build (see above): its
    row_xid at or after the xmin recorded by that build. Without a recorded
    build, every row (0). -#}
{% macro changed_since_last_build(row_xid_column, model_name=none) -%}
    {{ row_xid_column }} >= {{ build_watermark_function() }}('{{ model_name or this.identifier }}')
{%- endmacro %}


{#- Post-hook, in the model's transaction: record its snapshot's xmin and its
    own transaction id. `also_before` names models it reads (built earlier in
    the same build, from an older snapshot): the recorded xmin is then the
    older of the two, so rows the model left out because the earlier model
    did not have them yet (a session of a user newer than dim_users' build)
    are taken again at the next build. -#}
{% macro record_build_watermark(also_before=[], name=none) -%}
    {%- if not keeps_marts_incrementally() -%}
        select 1 as rebuilt_whole_without_watermark
    {%- else -%}
    insert into {{ build_watermarks_relation() }} (
        model_name, snapshot_xmin, took_since, built_xid, built_at
    )
    select
        '{{ name or this.identifier }}',
        min(candidates.snapshot_xmin),
        {{ build_watermark_function() ~ "('" ~ (name or this.identifier) ~ "')" if is_incremental() else 0 }},
        xid(pg_current_xact_id()),
        now()
    from (
        select pg_snapshot_xmin(pg_current_snapshot())::text::bigint as snapshot_xmin
        {%- for earlier in also_before %}
        union all
        select {{ build_watermark_function() }}('{{ earlier }}')
        {%- endfor %}
    ) as candidates
    on conflict (model_name) do update
        set snapshot_xmin = excluded.snapshot_xmin,
            took_since = excluded.took_since,
            built_xid = excluded.built_xid,
            built_at = excluded.built_at
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of an incremental model, in its transaction: delete its rows whose
    key is among those recorded since its last build in `changed_keys` (staged
    relations with the key column and row_xid: deleted keys, or rows whose
    change may take the key out) and is not in `still_there` (a relation or a
    select of that key column: what the model keeps), each looked up by key:
    `offset 0` keeps the check a subplan run per deleted key, as a staging
    view (its CTEs) cannot be flattened into an anti-join by key, and the
    anti-join hashed every row (3.4 s at 10M sessions for 10,000 deleted
    sessions; 0.36 s looked up). -#}
{% macro delete_deleted_rows(key_column, changed_keys, still_there, watermark=none) -%}
    delete from {{ this }} as target
    using (
        {%- for relation in changed_keys %}
        select {{ key_column }}
        from {{ relation }}
        where {{ changed_since_last_build('row_xid', watermark) }}
        {%- if not loop.last %}
        union{% endif %}
        {%- endfor %}
    ) as gone
    where
        target.{{ key_column }} = gone.{{ key_column }}
        and not exists (
            select 1 from ({{ still_there if still_there is string else 'select * from ' ~ still_there }}) as kept
            where kept.{{ key_column }} = gone.{{ key_column }}
            offset 0
        )
{%- endmacro %}


{#- The sessions rated, re-rated or unrated since the model's last build (a
    rating changes its session's row in fact_sessions). -#}
{% macro sessions_rerated_since_last_build() -%}
    select session_id from {{ ref('stg_sim__ratings') }}
    where {{ changed_since_last_build('row_xid') }}

    union

    select session_id from {{ ref('stg_sim__deleted_ratings') }}
    where {{ changed_since_last_build('row_xid') }}
{%- endmacro %}


{#- The users whose viewing changed since the model's last build, read from
    the landing tables: users of sessions written or deleted since, and of
    sessions rated or unrated since (each session looked up by key; one
    deleted since is among the deleted). The model's watermark is no newer
    than that of the mart it reads (record_build_watermark's also_before), so
    a change that mart had not seen yet is taken again at the next build. At
    grain 'subscriber' (agg_user_viewing, a row for every user with their
    plan), the users written (signed up, changed plan, churned) or deleted
    since too. -#}
{% macro users_with_changed_viewing(grain='user') -%}
    select user_id from {{ ref('stg_sim__sessions') }}
    where {{ changed_since_last_build('row_xid') }}

    union

    select user_id from {{ ref('stg_sim__deleted_sessions') }}
    where {{ changed_since_last_build('row_xid') }}

    union

    select user_id from ({{ rerated_sessions() }}) as rerated_session
    {%- if grain == 'subscriber' %}

    union

    select user_id from {{ ref('stg_sim__users') }}
    where {{ changed_since_last_build('row_xid') }}

    union

    select user_id from {{ ref('stg_sim__deleted_users') }}
    where {{ changed_since_last_build('row_xid') }}
    {%- endif %}
{%- endmacro %}


{#- The same, by (user, title) pair, for agg_user_title_viewing: the pairs of
    sessions written, deleted, rated or unrated since. A deletion recorded
    before deletions kept the title counts as a change of every pair its user
    has in the model. -#}
{% macro pairs_with_changed_viewing() -%}
    select user_id, title_id from {{ ref('stg_sim__sessions') }}
    where {{ changed_since_last_build('row_xid') }}

    union

    select user_id, title_id from {{ ref('stg_sim__deleted_sessions') }}
    where {{ changed_since_last_build('row_xid') }} and title_id is not null

    union

    select users_pairs.user_id, users_pairs.title_id
    from {{ ref('stg_sim__deleted_sessions') }} as deleted
    cross join lateral (
        select kept.user_id, kept.title_id
        from {{ this }} as kept
        where kept.user_id = deleted.user_id
        offset 0
    ) as users_pairs
    where {{ changed_since_last_build('deleted.row_xid') }} and deleted.title_id is null

    union

    select user_id, title_id from ({{ rerated_sessions() }}) as rerated_session
{%- endmacro %}


{#- The user and title of each session rated or unrated since the model's
    last build, looked up by key (one deleted since has none: it is among the
    deleted). -#}
{% macro rerated_sessions() -%}
    select rerated_session.user_id, rerated_session.title_id
    from ({{ sessions_rerated_since_last_build() }}) as rerated
    cross join lateral (
        select landing.user_id, landing.title_id
        from {{ ref('stg_sim__sessions') }} as landing
        where landing.session_id = rerated.session_id
        limit 1
    ) as rerated_session
{%- endmacro %}


{#- Pre-hook of a mart kept per user, in its transaction: the users whose
    viewing changed since its last build (users_with_changed_viewing), in a
    temporary table dropped at commit, so that the hooks and the model's
    query read them from one place: each read of them from the landing
    tables took 0.13 s at 10M sessions, three times per mart. At grain
    'pair' (agg_user_title_viewing): the pairs (pairs_with_changed_viewing)
    in a temporary table too, and their users. -#}
{% macro gather_users_with_changed_viewing(grain='user') -%}
    {{- fail_if_columns_changed() -}}
    {%- if grain == 'pair' -%}
        create temporary table {{ changed_pairs_relation() }} on commit drop as
        {{ pairs_with_changed_viewing() }};
        analyze {{ changed_pairs_relation() }};
        create temporary table {{ changed_users_relation() }} on commit drop as
        select distinct user_id from {{ changed_pairs_relation() }};
    {%- else -%}
        create temporary table {{ changed_users_relation() }} on commit drop as
        {{ users_with_changed_viewing(grain) }};
    {%- endif %}
    analyze {{ changed_users_relation() }}
{%- endmacro %}

{#- Before a hook touches an incremental model's rows: a clear error when the
    table's columns are not those the model declares (a warehouse built by an
    earlier version), instead of the first statement failing on a missing
    column (dbt's own check, on_schema_change, comes after the hooks). -#}
{% macro fail_if_columns_changed() -%}
    {%- if execute -%}
        {%- set present = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- set declared = model.columns.keys() | list -%}
        {%- if declared and present != declared -%}
            {{ exceptions.raise_compiler_error(
                this ~ " has the columns " ~ present | join(', ') ~ " but the model declares "
                ~ declared | join(', ') ~ " (a table from an earlier version of recdb): run "
                ~ "`recdb build --full-refresh` to rebuild it and the marts built from it"
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro changed_users_relation() -%}
    users_with_changed_viewing
{%- endmacro %}

{% macro changed_pairs_relation() -%}
    pairs_with_changed_viewing
{%- endmacro %}


{#- The rows of `relation` (fact_sessions, or a mart kept per user) of the
    users gathered by gather_users_with_changed_viewing, looked up by user:
    a lateral subquery on `relation`'s user_id index, whatever PostgreSQL
    estimates (a hash join over every row took 49 s at 10 million sessions,
    the look-ups 4 s). `offset 0` keeps the subquery a look-up: without it
    PostgreSQL may flatten it into that hash join. -#}
{% macro rows_of_users_with_changed_viewing(relation, grain='user') -%}
    select users_rows.*
    from {{ changed_users_relation() }} as changed_users
    cross join lateral (
        select *
        from {{ relation }} as kept
        where kept.user_id = changed_users.user_id
        offset 0
    ) as users_rows
    {%- if grain == 'pair' %}
    where {{ among_changed_pairs('users_rows') }}
    {%- endif %}
{%- endmacro %}


{#- True for a row (`alias`, with user_id and title_id) of a pair gathered by
    gather_users_with_changed_viewing(grain='pair'). -#}
{% macro among_changed_pairs(alias) -%}
    ({{ alias }}.user_id, {{ alias }}.title_id) in (
        select user_id, title_id from {{ changed_pairs_relation() }}
    )
{%- endmacro %}


{#- Pre-hook of a mart kept per user, after gather_users_with_changed_viewing:
    deletes the rows of those users (the model's query then appends them
    recomputed; a user left without sessions gets none), and, for a mart
    that `feeds` a mart per group, records the rows deleted, negated, as
    that mart's deltas (viewing_deltas.sql). One statement replaces dbt's
    delete+insert lookup, a pass to negate the rows and one to remove the
    users left without sessions (1.3 s of agg_user_title_viewing's 3.3 s at
    10M sessions). The users are an array so that each is looked up by key:
    joined to them, PostgreSQL read the whole mart (1.2 s). -#}
{% macro remove_rows_of_changed_users(feeds=none, group_column=none, grain='user') -%}
    {%- set removal -%}
        delete from {{ this }} as kept
        where kept.user_id = any(array(select user_id from {{ changed_users_relation() }}))
        {%- if grain == 'pair' %}
            and {{ among_changed_pairs('kept') }}
        {%- endif %}
    {%- endset -%}
    {%- if feeds -%}
        with removed as (
            {{ removal }}
            returning kept.*
        )
        {{ insert_viewing_deltas(feeds, group_column, 'removed', '-', grain) }}
    {%- else -%}
        {{ removal }}
    {%- endif -%}
{%- endmacro %}


{#- The hooks of the marts kept per user (agg_user_*), rebuilt whole for each
    user whose viewing changed, or at `grain` 'pair' for each pair, or at
    'subscriber' for each user whose viewing or subscription changed: one
    snapshot; the users (pairs) gathered once; their rows removed (and
    recorded, negated, for the mart per group it `feeds`), the model's query
    appending them recomputed; then their new rows recorded for that mart,
    the watermark no newer than `upstream`'s, and statistics for a fully
    built table. -#}
{% macro kept_per_user_pre_hooks(feeds=none, group_column=none, grain='user') -%}
    {%- if not keeps_marts_incrementally() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set removal_arguments = (
        ["'" ~ feeds ~ "'", "'" ~ group_column ~ "'"] if feeds else ['none', 'none']
    ) + ["'" ~ grain ~ "'"] -%}
    {{ return([
        "{{ read_from_one_snapshot() }}",
        "{% if is_incremental() %}{{ gather_users_with_changed_viewing('" ~ grain ~ "') }}{% endif %}",
        "{% if is_incremental() %}{{ remove_rows_of_changed_users("
            ~ removal_arguments | join(', ') ~ ") }}{% endif %}",
    ]) }}
{%- endmacro %}

{% macro kept_per_user_post_hooks(upstream, feeds=none, group_column=none, grain='user') -%}
    {%- if not keeps_marts_incrementally() -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(([
        "{{ record_viewing_deltas('" ~ feeds ~ "', '" ~ group_column ~ "', '" ~ grain ~ "') }}",
    ] if feeds else []) + [
        "{{ record_build_watermark(also_before=['" ~ upstream ~ "']) }}",
        "{% if not is_incremental() %}{{ analyze_table(this) }}{% endif %}",
    ]) }}
{%- endmacro %}
