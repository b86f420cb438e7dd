{#- Exactly one outcome for every received attendance row: loaded, superseded
    or the reject reason of the winning row. Quarantine, the fact table and
    gold.delivery_quality all read this model, so they cannot disagree. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_outcomes('attendance', 'attendance_id')) }}",
) }}

with

attendance as (

    select * from {{ ref('stg_deliveries__attendance') }}
    {% if is_incremental() %}
    where {{ touched_outcomes('attendance', 'attendance_id') }}
    {% endif %}

),

students as (

    select student_id from {{ ref('dim_student') }}

),

judged as (

    select
        attendance.*,
        {{ attendance_reject_reason(
            'attendance.attendance_id',
            'attendance.student_id',
            'attendance.session_date',
            'attendance.status',
            'students.student_id is not null',
        ) }} as reject_reason

    from attendance
    left join students
        on attendance.student_id = students.student_id

),

final as (

    select
        raw_attendance_id,
        raw_student_id,
        raw_session_date,
        raw_status,
        attendance_id,
        student_id,
        session_date,
        status,
        delivery_code,
        _source_file,
        _source_row,
        _dlt_load_id,
        {{ row_outcome('attendance_id', 'reject_reason') }} as outcome

    from judged

)

select * from final
