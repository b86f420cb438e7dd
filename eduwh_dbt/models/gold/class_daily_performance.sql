{#- One row per class and day with any valid activity. A fact's class_id is the
    student's current class, so a student who moves takes their history along. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_class_day_rows('activity_date')) }}",
) }}

with

students as (

    select * from {{ ref('dim_student') }}

),

attendance as (

    select * from {{ ref('fact_attendance') }}
    where class_id is not null
    {% if is_incremental() %}
        and {{ touched_class_day_rows('session_date') }}
    {% endif %}

),

assessments as (

    select * from {{ ref('fact_assessment') }}
    where class_id is not null
    {% if is_incremental() %}
        and {{ touched_class_day_rows('assessed_on') }}
    {% endif %}

),

active_students_per_class as (

    select
        class_id,
        count(*) as total_students

    from students
    where enrolment_status = '{{ var("active_enrolment_status") }}' and class_id is not null
    group by class_id

),

attendance_per_day as (

    select
        class_id,
        session_date as activity_date,
        count(distinct student_id) as students_with_attendance,
        count(*) filter (where is_present) as present_count,
        count(*) filter (where {{ status_counts_as('status', 'absent') }}) as absent_count,
        count(*) filter (where {{ status_counts_as('status', 'excused') }}) as excused_count

    from attendance
    group by class_id, session_date

),

assessments_per_day as (

    select
        class_id,
        assessed_on as activity_date,
        count(distinct student_id) as students_with_assessment,
        count(*) as assessment_count,
        avg(score_pct) as avg_score_pct

    from assessments
    group by class_id, assessed_on

),

class_days as (

    select class_id, activity_date from attendance_per_day
    union
    select class_id, activity_date from assessments_per_day

),

final as (

    select
        class_days.class_id,
        class_days.activity_date,
        coalesce(active_students_per_class.total_students, 0) as total_students,
        coalesce(attendance_per_day.students_with_attendance, 0) as students_with_attendance,
        coalesce(attendance_per_day.present_count, 0) as present_count,
        coalesce(attendance_per_day.absent_count, 0) as absent_count,
        coalesce(attendance_per_day.excused_count, 0) as excused_count,
        {{ attendance_rate('attendance_per_day.present_count', 'attendance_per_day.absent_count') }}
            as attendance_rate,
        coalesce(assessments_per_day.students_with_assessment, 0) as students_with_assessment,
        coalesce(assessments_per_day.assessment_count, 0) as assessment_count,
        assessments_per_day.avg_score_pct

    from class_days
    left join active_students_per_class
        on class_days.class_id = active_students_per_class.class_id
    left join attendance_per_day
        on class_days.class_id = attendance_per_day.class_id
        and class_days.activity_date = attendance_per_day.activity_date
    left join assessments_per_day
        on class_days.class_id = assessments_per_day.class_id
        and class_days.activity_date = assessments_per_day.activity_date

)

select * from final
