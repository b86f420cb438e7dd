{#- One row per received CSV row: the raw values as delivered beside their
    cleaned, typed form. Judging validity is left to attendance_outcomes,
    because it must happen after deduplication. -#}
with

source as (

    select * from {{ source('bronze', 'attendance') }}

),

cleaned as (

    select
        attendance_id as raw_attendance_id,
        student_id as raw_student_id,
        session_date as raw_session_date,
        status as raw_status,

        {{ clean_text('attendance_id') }} as attendance_id,
        {{ clean_text('student_id') }} as student_id,
        {{ parse_iso_date('session_date') }} as session_date,
        lower({{ clean_text('status') }}) as status,

        delivery_code,
        _source_file,
        _source_row,
        _ingested_at,
        _dlt_load_id

    from source

)

select * from cleaned
