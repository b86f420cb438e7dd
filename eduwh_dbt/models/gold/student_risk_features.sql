{#- Early-warning features per student, all measured against as_of_date, the
    latest valid session in the warehouse, so a rebuild over the same data gives
    the same answer whatever day it runs. -#}
{#- When as_of_date moves, every student's window moves with it: all rows are
    recomputed, from one pass over the facts. Otherwise only touched students. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_risk_rows()) }}",
) }}

with

students as (

    select * from {{ ref('dim_student') }}
    {% if is_incremental() %}
    where {{ touched_risk_rows() }}
    {% endif %}

),

attendance as (

    select * from {{ ref('fact_attendance') }}

),

assessments as (

    select * from {{ ref('fact_assessment') }}
    {% if is_incremental() %}
    where {{ touched_risk_rows() }}
    {% endif %}

),

as_of as (

    select max(session_date) as as_of_date from attendance

),

attendance_per_student as (

    select
        attendance.student_id,
        count(*) filter (
            where attendance.is_present
            and attendance.session_date between as_of.as_of_date - {{ var('risk_window_days') - 1 }} and as_of.as_of_date
        ) as present_28d,
        count(*) filter (
            where {{ status_counts_as('attendance.status', 'absent') }}
            and attendance.session_date between as_of.as_of_date - {{ var('risk_window_days') - 1 }} and as_of.as_of_date
        ) as absent_28d,
        max(attendance.session_date) filter (where attendance.is_present) as last_present_date

    from attendance
    cross join as_of
    {% if is_incremental() %}
    where {{ touched_risk_rows('attendance.student_id') }}
    {% endif %}
    group by attendance.student_id

),

failures_per_student as (

    select
        student_id,
        count(*) as failed_assessments

    from assessments
    where score_pct < {{ var('failed_score_pct_below') }}
    group by student_id

),

features as (

    select
        students.student_id,
        as_of.as_of_date,
        {{ attendance_rate('attendance_per_student.present_28d', 'attendance_per_student.absent_28d') }}
            as attendance_rate_28d,
        as_of.as_of_date - attendance_per_student.last_present_date as days_since_last_present,
        coalesce(failures_per_student.failed_assessments, 0) as failed_assessments

    from students
    cross join as_of
    left join attendance_per_student
        on students.student_id = attendance_per_student.student_id
    left join failures_per_student
        on students.student_id = failures_per_student.student_id

),

final as (

    select
        *,
        coalesce(attendance_rate_28d < {{ var('at_risk_attendance_below') }}, false)
            or failed_assessments >= {{ var('at_risk_failed_assessments') }} as at_risk

    from features

)

select * from final
