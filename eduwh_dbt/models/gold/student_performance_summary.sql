{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched('student_id in ' ~ touched_students()) }}",
) }}

with

students as (

    select * from {{ ref('dim_student') }}
    {% if is_incremental() %}
    where student_id in {{ touched_students() }}
    {% endif %}

),

classes as (

    select * from {{ ref('dim_class') }}

),

attendance as (

    select * from {{ ref('fact_attendance') }}
    {% if is_incremental() %}
    where student_id in {{ touched_students() }}
    {% endif %}

),

assessments as (

    select * from {{ ref('fact_assessment') }}
    {% if is_incremental() %}
    where student_id in {{ touched_students() }}
    {% endif %}

),

attendance_per_student as (

    select
        student_id,
        count(*) as total_attendance_records,
        count(*) filter (where is_present) as present_days,
        count(*) filter (where {{ status_counts_as('status', 'absent') }}) as absent_days,
        count(*) filter (where {{ status_counts_as('status', 'excused') }}) as excused_days

    from attendance
    group by student_id

),

assessments_per_student as (

    select
        student_id,
        count(*) as total_assessments,
        avg(score_pct) as avg_score_pct,
        min(score_pct) as min_score_pct,
        max(score_pct) as max_score_pct

    from assessments
    group by student_id

),

final as (

    select
        students.student_id,
        students.class_id,
        classes.programme_code,
        students.enrolment_status,
        coalesce(attendance_per_student.total_attendance_records, 0) as total_attendance_records,
        coalesce(attendance_per_student.present_days, 0) as present_days,
        coalesce(attendance_per_student.absent_days, 0) as absent_days,
        coalesce(attendance_per_student.excused_days, 0) as excused_days,
        {{ attendance_rate('attendance_per_student.present_days', 'attendance_per_student.absent_days') }}
            as attendance_rate,
        coalesce(assessments_per_student.total_assessments, 0) as total_assessments,
        assessments_per_student.avg_score_pct,
        assessments_per_student.min_score_pct,
        assessments_per_student.max_score_pct

    from students
    left join classes
        on students.class_id = classes.class_id
    left join attendance_per_student
        on students.student_id = attendance_per_student.student_id
    left join assessments_per_student
        on students.student_id = assessments_per_student.student_id

)

select * from final
