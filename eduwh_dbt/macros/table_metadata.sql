{#-
    Post-hook of every model and seed: log the typed columns of the relation it
    just built and (for a table) its row count, as one line that
    eduwh_assets/transform/metadata.py turns into the asset's
    `dagster/column_schema` and `dagster/row_count`.

    Read here, on dbt's own connection while the node finishes, so Dagster can
    record each model as soon as dbt reports it, instead of waiting for dbt to
    exit and free the warehouse for a second reader. A view is not counted:
    counting it would run its query.
-#}
{% macro log_table_metadata() -%}
    {%- if execute -%}
        {%- set columns = [] -%}
        {%- for row in run_query('describe ' ~ this).rows -%}
            {%- do columns.append([row['column_name'], row['column_type']]) -%}
        {%- endfor -%}
        {%- set figures = {'columns': columns} -%}
        {%- if config.get('materialized') != 'view' -%}
            {%- do figures.update({'row_count': run_query('select count(*) from ' ~ this).columns[0].values()[0] | int}) -%}
        {%- endif -%}
        {%- do log('eduwh table metadata ' ~ tojson(figures), info=True) -%}
    {%- endif -%}
{%- endmacro %}
