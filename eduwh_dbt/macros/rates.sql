{#- The attendance rate of SPEC §4, used by every mart: late already counts in
    `present`; excused sessions count in neither side; NULL when nothing to divide. -#}
{% macro attendance_rate(present, absent) -%}
    ({{ present }}) / nullif(({{ present }}) + ({{ absent }}), 0)
{%- endmacro %}
