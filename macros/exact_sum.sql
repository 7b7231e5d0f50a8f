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
    cast({{ units }} as {{ type_double() }}) * {{ unit }}
{%- endmacro %}


{#- The 64-bit floating-point type (numpy's float64): double precision on
    PostgreSQL, double on Spark (dbt.type_float is Spark's 32-bit float). -#}
{% macro type_double() -%}
    {{ return(var('types')[target.type].double) }}
{%- endmacro %}
