{#- The sum of a double precision column as a whole number of `unit`s (bigint
    arithmetic), back in double precision: exact, so it does not depend on the
    order rows arrive in (a sum of doubles does, and parallel plans change that
    order), and an incremental build gives the same value as a full one. -#}
{% macro exact_sum(column, unit) -%}
    cast(sum(cast(round({{ column }} / {{ unit }}) as bigint)) as {{ dbt.type_float() }}) * {{ unit }}
{%- endmacro %}
