{#- Fails when `model` and `compare_model` differ in row count: a model that
    must keep one row per upstream row (an outcome per received row, a summary
    row per student) would otherwise lose rows silently. -#}
{% test row_count_matches(model, compare_model) %}

select model_rows, compare_rows
from (select count(*) as model_rows from {{ model }}) as counted
cross join (select count(*) as compare_rows from {{ compare_model }}) as compared
where model_rows <> compare_rows

{% endtest %}
