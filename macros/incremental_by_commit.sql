{#-
    Incremental models driven by commit order.

    A model built incrementally reads the landing rows that changed since its
    last build. "Since" is decided by PostgreSQL's own visibility, not by a
    number drawn while a row was written (a writer that drew a number and
    committed after a build read a higher one was missed for good):

    * the model's transaction reads one snapshot (REPEATABLE READ, set by
      read_from_one_snapshot as its first statement), and records that
      snapshot's xmin, the oldest transaction still running when it was taken
      (record_build_watermark, in the model's own transaction);
    * a row version whose writing transaction (its xmin, exposed by the staging
      views as row_xid) is at or after the previous build's xmin may not have
      been visible to that build: changed_since_last_build takes it again.
      Every version written by a transaction that was running, or not yet
      started, when the previous snapshot was taken is at or after that xmin;
      the others were visible to it. Taking a row twice is harmless (the
      merge is idempotent); missing one is impossible.

    Writers never wait for a build, and a build never waits for writers.
    Deleted rows are recorded by the landing tables' delete triggers in
    sim.deleted_* and recs.deleted_recommendations (recdb/core/landing.py), whose
    rows are read by the same rule.
-#}

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
    the owner's private schema. Created by the on-run-start hook. -#}
{% macro build_watermarks_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=generate_schema_name('intermediate', none),
        identifier='incremental_watermarks'
    )) }}
{%- endmacro %}

{% macro create_build_watermarks() -%}
    create table if not exists {{ build_watermarks_relation() }} (
        model_name text primary key,
        snapshot_xmin xid not null,
        built_xid xid not null,
        built_at timestamptz not null
    )
{%- endmacro %}


{#- True for a row version written since the model's last build (see above):
    age() counts transactions back from now, so "written at or after the
    recorded xmin" is "no older than it". Without a recorded build, every row. -#}
{% macro changed_since_last_build(row_xid_column, model_name=none) -%}
    age({{ row_xid_column }}) <= coalesce(
        (
            select age(watermarks.snapshot_xmin)
            from {{ build_watermarks_relation() }} as watermarks
            where watermarks.model_name = '{{ model_name or this.identifier }}'
        ),
        2147483647
    )
{%- endmacro %}


{#- Post-hook, in the model's transaction: record its snapshot's xmin and its
    own transaction id. `also_before` names models it reads (built earlier in
    the same build, from an older snapshot): the recorded xmin is then the
    older of the two, so rows the model left out because the earlier model
    did not have them yet (a session of a user newer than dim_users' build)
    are taken again at the next build. -#}
{% macro record_build_watermark(also_before=[], name=none) -%}
    {%- set xmin = "xid(pg_snapshot_xmin(pg_current_snapshot()))" -%}
    {%- set oldest -%}
        coalesce((
            select candidates.snapshot_xmin
            from (
                select {{ xmin }} as snapshot_xmin
                {%- for earlier in also_before %}
                union all
                select snapshot_xmin
                from {{ build_watermarks_relation() }}
                where model_name = '{{ earlier }}'
                {%- endfor %}
            ) as candidates
            order by age(candidates.snapshot_xmin) desc
            limit 1
        ), {{ xmin }})
    {%- endset -%}
    insert into {{ build_watermarks_relation() }} (model_name, snapshot_xmin, built_xid, built_at)
    values ('{{ name or this.identifier }}', {{ oldest }}, xid(pg_current_xact_id()), now())
    on conflict (model_name) do update
        set snapshot_xmin = excluded.snapshot_xmin,
            built_xid = excluded.built_xid,
            built_at = excluded.built_at
{%- endmacro %}


{#- Post-hook of an incremental model, in its transaction: delete its rows whose
    key is among those recorded since its last build in `changed_keys` (staged
    relations with the key column and row_xid: deleted keys, or rows whose
    change may take the key out) and is not in `still_there` (a relation or a
    select of that key column: what the model keeps). -#}
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
        )
{%- endmacro %}


{#- The users whose viewing changed since the model's last build: users with
    rows of `relation` (a mart built earlier in the same build, kept per user
    and rewritten whole for each changed user) written since the model's own
    watermark, and users of the sessions deleted since its deletions'
    watermark (a user left with none has no rows to show it). Two watermarks,
    recorded by record_viewing_watermarks: rows of `relation` committed before
    the model's snapshot were read by it, so its own snapshot suffices for
    them; a deletion `relation` did not see yet (committed after its snapshot)
    must be taken again, so the deletions' watermark is the older of the two
    (`relation`'s own deletions watermark). Taking `relation`'s rows of the
    last build again, as the older watermark would for them too, would redo
    every user after each full build. -#}
{% macro users_with_changed_viewing(relation) -%}
    select user_id from {{ relation }}
    where {{ changed_since_last_build('xmin') }}

    union

    select user_id from {{ ref('stg_sim__deleted_sessions') }}
    where {{ changed_since_last_build('row_xid', deletions_watermark()) }}
{%- endmacro %}


{#- The rows of `relation` (fact_sessions, or a mart kept per user) of the
    users whose viewing changed since the model's last build
    (users_with_changed_viewing), looked up by user: a lateral subquery on
    `relation`'s user_id index, as PostgreSQL cannot estimate how few users the
    xmin filters keep and would otherwise hash every row (at 10 million
    sessions, 49 s where the look-ups take 4 s). `offset 0` keeps the subquery
    a look-up: without it PostgreSQL flattens it into that hash join. -#}
{% macro rows_of_users_with_changed_viewing(relation) -%}
    select users_rows.*
    from ({{ users_with_changed_viewing(relation) }}) as changed_users
    cross join lateral (
        select *
        from {{ relation }} as kept
        where kept.user_id = changed_users.user_id
        offset 0
    ) as users_rows
{%- endmacro %}


{#- The name of the model's deletions watermark (see users_with_changed_viewing). -#}
{% macro deletions_watermark(model_name=none) -%}
    {{ return((model_name or this.identifier) ~ '__deleted_sessions') }}
{%- endmacro %}


{#- Post-hook of the models kept per user: their own watermark, and their
    deletions' one, no newer than `upstream`'s (see users_with_changed_viewing). -#}
{% macro record_viewing_watermarks(upstream) -%}
    {{ record_build_watermark() }};
    {{ record_build_watermark(
        also_before=[upstream if upstream == 'fact_sessions' else deletions_watermark(upstream)],
        name=deletions_watermark()
    ) }}
{%- endmacro %}
