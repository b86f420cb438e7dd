{#- Fails on every row where `expression` is not true. NULL counts as a failure
    unless the expression handles it, so a missing value cannot slip through. -#}
{% test expression_is_true(model, expression, where_clause=none, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{%- if where_clause %} and ({{ where_clause }}){% endif %}

{% endtest %}
