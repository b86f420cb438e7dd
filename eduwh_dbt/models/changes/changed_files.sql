{#- Delivered files whose bronze rows differ from the rows silver was built
    from: new, reloaded (a restatement) or gone (a retraction). A file is the
    same when its row count and dlt load ids are. -#}

{%- set sources = {'attendance': 'attendance_outcomes', 'assessments': 'assessment_outcomes'} %}

with

{% for source_name, outcomes_model in sources.items() %}
{%- set built = previous_build(outcomes_model) %}

{{ source_name }}_received as (

    select
        delivery_code,
        _source_file,
        count(*) as row_count,
        min(_dlt_load_id) as first_load_id,
        max(_dlt_load_id) as last_load_id

    from {{ source('bronze', source_name) }}
    group by delivery_code, _source_file

),

{{ source_name }}_built as (

    {%- if built is not none %}
    select
        delivery_code,
        _source_file,
        count(*) as row_count,
        min(_dlt_load_id) as first_load_id,
        max(_dlt_load_id) as last_load_id

    from {{ built }}
    group by delivery_code, _source_file
    {%- else %}
    {#- Nothing built yet: the build is a full one and has nothing to compare. #}
    select * from {{ source_name }}_received where false
    {%- endif %}

),

{{ source_name }}_changed as (

    select
        '{{ source_name }}' as source,
        coalesce(received.delivery_code, built.delivery_code) as delivery_code,
        coalesce(received._source_file, built._source_file) as _source_file

    from {{ source_name }}_received as received
    full outer join {{ source_name }}_built as built
        on received.delivery_code = built.delivery_code
        and received._source_file = built._source_file
    where {{ 'true' if built is not none else 'false' }}
        and (
            received.row_count is distinct from built.row_count
            or received.first_load_id is distinct from built.first_load_id
            or received.last_load_id is distinct from built.last_load_id
        )

),

{% endfor %}

detected as (

    select * from attendance_changed
    union all
    select * from assessments_changed

)

select * from detected
{{ still_pending(['source', 'delivery_code', '_source_file']) }}
