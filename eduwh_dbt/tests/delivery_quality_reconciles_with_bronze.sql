{#- SPEC §4: for each delivery and source the outcome counts sum to the rows
    received. Compared with bronze itself, not with the outcome models, so a
    row dropped anywhere between bronze and gold is caught. The meta tells
    dagster-dbt which asset this check belongs to. -#}
{{ config(meta={'dagster': {'ref': {'name': 'delivery_quality'}}}) }}

with

quality as (

    select delivery_code, source, sum(row_count) as row_count
    from {{ ref('delivery_quality') }}
    group by delivery_code, source

),

received as (

    select delivery_code, 'attendance' as source, count(*) as row_count
    from {{ source('bronze', 'attendance') }}
    group by delivery_code
    union all
    select delivery_code, 'assessments' as source, count(*) as row_count
    from {{ source('bronze', 'assessments') }}
    group by delivery_code

)

select
    coalesce(quality.delivery_code, received.delivery_code) as delivery_code,
    coalesce(quality.source, received.source) as source,
    quality.row_count as counted,
    received.row_count as received

from quality
full outer join received
    on quality.delivery_code = received.delivery_code
    and quality.source = received.source
where quality.row_count is distinct from received.row_count
