{#-
    The warehouse contract names the schemas bronze, silver, gold and quarantine
    exactly, so a configured schema is used as is instead of dbt's default
    `<target schema>_<custom schema>`.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
