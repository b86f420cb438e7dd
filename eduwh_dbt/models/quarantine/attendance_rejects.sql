{#- Rejected attendance rows with the values exactly as received, so a fix can
    be traced back to the delivery, file and row. Recomputed from bronze
    for whatever a run touches. -#}
{#- The rejects keep the id as received, so the pre-hook matches on its cleaned form. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_outcomes('attendance', 'attendance_id', clean_text('attendance_id'))) }}",
) }}

with

outcomes as (

    select * from {{ ref('attendance_outcomes') }}
    {% if is_incremental() %}
    where {{ touched_outcomes('attendance', 'attendance_id') }}
    {% endif %}

),

final as (

    select
        raw_attendance_id as attendance_id,
        raw_student_id as student_id,
        raw_session_date as session_date,
        raw_status as status,
        delivery_code,
        _source_file,
        _source_row,
        outcome as reason

    from outcomes
    where outcome in {{ sql_list(reject_reasons()) }}

)

select * from final
