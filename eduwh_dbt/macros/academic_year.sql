{#- Academic year label such as `2025/26`; a year starts on 1 September. -#}
{% macro academic_year(date_column) -%}
    (
        (year({{ date_column }}) - case when month({{ date_column }}) >= 9 then 0 else 1 end)::varchar
        || '/'
        || lpad(((year({{ date_column }}) + case when month({{ date_column }}) >= 9 then 1 else 0 end) % 100)::varchar, 2, '0')
    )
{%- endmacro %}
