{#- One row per received JSON object: raw values as delivered beside their
    cleaned, typed form. Validity is judged in assessment_outcomes, after
    deduplication. -#}
with

source as (

    select * from {{ source('bronze', 'assessments') }}

),

cleaned as (

    select
        assessment_id as raw_assessment_id,
        student_id as raw_student_id,
        subject as raw_subject,
        score as raw_score,
        max_score as raw_max_score,
        assessed_on as raw_assessed_on,

        {{ clean_text('assessment_id') }} as assessment_id,
        {{ clean_text('student_id') }} as student_id,
        {{ clean_text('subject') }} as subject,
        {{ parse_number('score') }} as score,
        {{ parse_number('max_score') }} as max_score,
        {{ parse_iso_date('assessed_on') }} as assessed_on,

        delivery_code,
        _source_file,
        _source_row,
        _ingested_at,
        _dlt_load_id

    from source

)

select * from cleaned
