{#- Rejected attendance rows with the values exactly as received, so a fix can
    be traced back to the delivery, file and row. Rebuilt from bronze each run. -#}
with

outcomes as (

    select * from {{ ref('attendance_outcomes') }}

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
