{#- The sum of a double precision column as a whole number of `unit`s (bigint
    arithmetic), back in double precision: exact, so it does not depend on the
    order rows arrive in (a sum of doubles does, and parallel plans change that
    order), and an incremental build gives the same value as a full one. -#}
{% macro exact_sum(column, unit) -%}
    {{ from_exact_units('sum(' ~ exact_units(column, unit) ~ ')', unit) }}
{%- endmacro %}

{#- A double precision value as a whole number of `unit`s: the bigint that
    exact_sum adds, and that kept totals store and add to. -#}
{% macro exact_units(column, unit) -%}
    cast(round({{ column }} / {{ unit }}) as bigint)
{%- endmacro %}

{#- Whole `unit`s (bigint) back in double precision. -#}
{% macro from_exact_units(units, unit) -%}
    cast({{ units }} as {{ dbt.type_float() }}) * {{ unit }}
{%- endmacro %}
