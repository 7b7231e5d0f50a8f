with

title_sources as (

    select
        title_id,
        source
    from {{ ref('int_titles_unioned') }}

),

title_countries as (

    select * from {{ ref('int_title_countries_unnested') }}

),

best_of_main_countries as (

    -- a title on several lists may have several main countries; each pair once
    select distinct
        title_id,
        main_country_code
    from {{ ref('int_best_of_entries_matched') }}

),

ranked as (

    -- main country: the best-of lists' main production country when the
    -- title is on a list and lists that country itself, else the one listed
    -- first
    select
        title_countries.title_id,
        title_countries.country_code,
        title_countries.country_position,
        row_number() over (
            partition by title_countries.title_id
            order by
                case when best_of_main_countries.main_country_code is not null then 0 else 1 end,
                title_countries.country_position
        ) as main_country_rank
    from title_countries
    left join best_of_main_countries
        on
            title_countries.title_id = best_of_main_countries.title_id
            and title_countries.country_code = best_of_main_countries.main_country_code

),

final as (

    select
        ranked.title_id,
        ranked.country_code,
        ranked.country_position,
        ranked.main_country_rank = 1 as is_main_country,
        title_sources.source
    from ranked
    inner join title_sources
        on ranked.title_id = title_sources.title_id

)

select * from final
