{#-
    Viewing per title, per genre and per plan kept by deltas, not recounted.

    agg_title_viewing, agg_genre_viewing and agg_plan_viewing sum the rows of
    a mart kept per user (agg_user_title_viewing, agg_user_genre_viewing,
    agg_user_viewing) by group: viewers (or users, and how many churned),
    sessions, minutes. Recounting every row of it at each build grew with the
    data (2.5 s of a 10M-session incremental build for titles, 1.1 s for
    plans, the whole of it again at each build). Instead the mart kept per
    user records, in its own transaction, what each build changed per group:

    * the pre-hook that deletes the rows of the users about to be recomputed
      writes them, negated (remove_rows_of_changed_users), and a post-hook
      their rows once recomputed (record_viewing_deltas), in
      intermediate.viewing_deltas: a user recomputed without change adds
      nothing, so redoing a user is harmless;
    * a full build of it writes a reset instead: its consumer recounts.

    The consumer (viewing_per_group) reads the deltas its snapshot sees, adds
    them to its rows, and deletes exactly those (its post-hook, in the same
    REPEATABLE READ transaction): each delta is applied once. A concurrent
    build that applied them too would fail to delete them (a serialization
    error) and change nothing. Minutes travel as whole micro-minutes (bigint),
    the unit exact_sum sums in, so a kept total equals a recount.
-#}

{% macro viewing_deltas_relation() -%}
    {{ return(api.Relation.create(
        database=target.get('database'), schema=build_state_schema(), identifier='viewing_deltas'
    )) }}
{%- endmacro %}


{#- On-run-start: the table of deltas, if missing (and its churned_count,
    if from before agg_plan_viewing was kept by deltas: only then, as ALTER
    TABLE would wait for a build writing deltas). -#}
{% macro create_viewing_deltas() -%}
    {{ return(adapter.dispatch('create_viewing_deltas', 'recdb')()) }}
{%- endmacro %}

{% macro default__create_viewing_deltas() -%}
    select 1 as viewing_deltas_are_kept_on_postgres
{%- endmacro %}

{% macro postgres__create_viewing_deltas() -%}
    create table if not exists {{ viewing_deltas_relation() }} (
        consumer text not null,
        group_key text,
        viewer_count bigint not null,
        session_count bigint not null,
        minutes_units bigint not null,
        is_reset boolean not null default false,
        churned_count bigint not null default 0
    );
    do $migration$
    begin
        if not exists (
            select 1 from pg_attribute
            where attrelid = to_regclass('{{ viewing_deltas_relation() }}')
                and attname = 'churned_count' and not attisdropped
        ) then
            alter table {{ viewing_deltas_relation() }}
                add column churned_count bigint not null default 0;
        end if;
    end
    $migration$
{%- endmacro %}


{#- Post-hook of a mart kept per user (the model being built) that feeds
    `consumer`, grouped by `group_column`: the rows of the users (or pairs,
    by `grain`) it recomputed (remove_rows_of_changed_users recorded their old
    rows, negated), or a reset after a full build. -#}
{% macro record_viewing_deltas(consumer, group_column, grain='user') -%}
    {%- if is_incremental() -%}
        with recomputed as (
            {{ rows_of_users_with_changed_viewing(this, grain) }}
        )
        {{ insert_viewing_deltas(consumer, group_column, 'recomputed', '+', grain) }}
    {%- else -%}
        insert into {{ viewing_deltas_relation() }} (
            consumer, group_key, viewer_count, session_count, minutes_units, is_reset
        )
        values ('{{ consumer }}', null, 0, 0, 0, true)
    {%- endif -%}
{%- endmacro %}


{#- The insert of the rows of `users_rows` (a CTE of rows of a mart kept per
    user) summed per `group_column`, with `sign`, as deltas for `consumer`;
    at grain 'subscriber' (agg_user_viewing: every user, is_churned) the
    churned users counted too. -#}
{% macro insert_viewing_deltas(consumer, group_column, users_rows, sign, grain='user') -%}
    insert into {{ viewing_deltas_relation() }} (
        consumer, group_key, viewer_count, session_count, minutes_units, churned_count
    )
    select
        '{{ consumer }}',
        {{ group_column }},
        {{ sign }}count(*),
        {{ sign }}sum(session_count),
        {{ sign }}sum({{ exact_units('minutes_watched', '1e-6') }}),
        {{ sign ~ 'count(*) filter (where is_churned)' if grain == 'subscriber' else '0' }}
    from {{ users_rows }}
    group by {{ group_column }}
{%- endmacro %}


{#- The query of agg_title_viewing, agg_genre_viewing and agg_plan_viewing:
    one row per group, keyed by `group_column`, with the viewers (rows:
    `count_column`), sessions and minutes of `per_user` (a mart kept per user,
    one row per user and group), and with `churned_column` the users whose
    is_churned is true. With `groups` (a dimension) every group of it, zeros
    where nobody watched; without, the groups per_user has. A full build
    counts them; an incremental one adds the deltas recorded since to the
    groups they changed (a group new to the dimension from zeros), or counts
    again after a reset, or when a group left the dimension (a catalogue
    reload). -#}
{% macro viewing_per_group(
    groups, group_column, per_user, count_column='viewer_count', churned_column=none
) -%}
with

{% if groups -%}
groups as (

    select {{ group_column }} from {{ groups }}

),

{% endif -%}
viewing as (

    select
        {{ group_column }},
        count(*) as {{ count_column }},
        {%- if churned_column %}
        count(*) filter (where is_churned) as {{ churned_column }},
        {%- endif %}
        sum(session_count) as session_count,
        {{ exact_sum('minutes_watched', '1e-6') }} as minutes_watched
    from {{ per_user }}
    group by {{ group_column }}

),

counted as (

    {%- if groups %}

    select
        groups.{{ group_column }},
        coalesce(viewing.{{ count_column }}, 0) as {{ count_column }},
        cast(coalesce(viewing.session_count, 0) as bigint) as session_count,
        coalesce(viewing.minutes_watched, 0) as minutes_watched
    from groups
    left join viewing
        on groups.{{ group_column }} = viewing.{{ group_column }}
    {%- else %}

    select
        {{ group_column }},
        {{ count_column }},
        {%- if churned_column %}
        {{ churned_column }},
        {%- endif %}
        cast(session_count as bigint) as session_count,
        minutes_watched
    from viewing
    {%- endif %}

){% if is_incremental() %},

deltas as (

    select * from {{ viewing_deltas_relation() }}
    where consumer = '{{ this.identifier }}'

),

-- Count again after a full build of per_user, or when a group left (a
-- catalogue reload). A new group (a title just added) starts from zeros.
must_count as (

    select
        exists (select 1 from deltas where deltas.is_reset)
        {%- if groups %}
        or exists (
            select 1 from {{ this }} as kept
            where not exists (
                select 1 from groups
                where groups.{{ group_column }} = kept.{{ group_column }}
            )
        )
        {%- endif %} as must_count

),

changes as (

    select
        group_key as {{ group_column }},
        sum(viewer_count) as viewer_count,
        sum(churned_count) as churned_count,
        sum(session_count) as session_count,
        sum(minutes_units) as minutes_units
    from deltas
    group by group_key

),

-- A group new to this model (a plan nobody was on) starts from zeros.
updated as (

    select
        changes.{{ group_column }},
        coalesce(kept.{{ count_column }}, 0)
        + cast(changes.viewer_count as bigint) as {{ count_column }},
        {%- if churned_column %}
        coalesce(kept.{{ churned_column }}, 0)
        + cast(changes.churned_count as bigint) as {{ churned_column }},
        {%- endif %}
        coalesce(kept.session_count, 0)
        + cast(changes.session_count as bigint) as session_count,
        {{ from_exact_units(
            exact_units('coalesce(kept.minutes_watched, 0)', '1e-6')
            ~ ' + changes.minutes_units', '1e-6'
        ) }} as minutes_watched
    from changes
    left join {{ this }} as kept
        on changes.{{ group_column }} = kept.{{ group_column }}

),

final as (

    select * from counted
    where (select must_count from must_count)

    union all

    select * from updated
    where not (select must_count from must_count)
    {%- if groups %}

    union all

    -- groups new to the dimension that no delta changed: zeros
    select
        groups.{{ group_column }},
        0 as {{ count_column }},
        cast(0 as bigint) as session_count,
        cast(0 as {{ type_double() }}) as minutes_watched
    from groups
    where
        not (select must_count from must_count)
        and not exists (
            select 1 from {{ this }} as kept
            where kept.{{ group_column }} = groups.{{ group_column }}
        )
        and not exists (
            select 1 from changes
            where changes.{{ group_column }} = groups.{{ group_column }}
        )
    {%- endif %}

)

select * from final
{%- else %}

select * from counted
{%- endif %}
{%- endmacro %}


{#- Post-hooks of a consumer: delete the deltas it applied (those its
    snapshot sees) and the rows of groups no longer in `groups` (a model's
    name), or, without groups, those whose `count_column` is down to 0. -#}
{% macro viewing_per_group_post_hooks(groups, group_column, count_column='viewer_count') -%}
    {%- if not keeps_marts_incrementally() -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return([
        "delete from {{ viewing_deltas_relation() }} where consumer = '{{ this.identifier }}'",
        "delete from {{ this }} as kept where not exists (select 1 from {{ ref('" ~ groups ~ "') }} as groups where groups." ~ group_column ~ " = kept." ~ group_column ~ ")"
        if groups else
        "delete from {{ this }} where " ~ count_column ~ " = 0",
    ]) }}
{%- endmacro %}
