with

title_countries as (

    select * from {{ ref('int_title_countries_unnested') }}

),

countries as (

    select * from {{ ref('countries') }}

),

used_country_codes as (

    select distinct country_code
    from title_countries

),

final as (

    select
        used_country_codes.country_code,
        countries.country_name
    from used_country_codes
    left join countries
        on used_country_codes.country_code = countries.country_code

)

select * from final
