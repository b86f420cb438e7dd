{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_facts('attendance', 'attendance_id')) }}",
) }}

with

outcomes as (

    select * from {{ ref('attendance_outcomes') }}
    {% if is_incremental() %}
    where {{ touched_facts('attendance', 'attendance_id') }}
    {% endif %}

),

students as (

    select * from {{ ref('dim_student') }}

),

final as (

    select
        outcomes.attendance_id,
        outcomes.student_id,
        students.class_id,
        outcomes.session_date,
        outcomes.status,
        outcomes.status in {{ sql_list(present_statuses()) }} as is_present,
        outcomes.delivery_code,
        outcomes._source_file

    from outcomes
    inner join students
        on outcomes.student_id = students.student_id
    where outcomes.outcome = '{{ var("loaded_outcome") }}'

)

select * from final
