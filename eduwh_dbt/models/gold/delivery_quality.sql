{#- How each delivery fared, per source: the outcome counts of one delivery and
    source add up to the rows it delivered, because every row has one outcome. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched('delivery_code in ' ~ touched_deliveries()) }}",
) }}

with

attendance as (

    select delivery_code, outcome from {{ ref('attendance_outcomes') }}
    {% if is_incremental() %}
    where delivery_code in {{ touched_deliveries() }}
    {% endif %}

),

assessments as (

    select delivery_code, outcome from {{ ref('assessment_outcomes') }}
    {% if is_incremental() %}
    where delivery_code in {{ touched_deliveries() }}
    {% endif %}

),

received as (

    select delivery_code, 'attendance' as source, outcome from attendance
    union all
    select delivery_code, 'assessments' as source, outcome from assessments

),

final as (

    select
        delivery_code,
        source,
        outcome,
        count(*) as row_count

    from received
    group by delivery_code, source, outcome

)

select * from final
