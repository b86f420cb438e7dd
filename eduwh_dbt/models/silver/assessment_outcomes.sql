{#- Exactly one outcome for every received assessment row: loaded, superseded
    or the reject reason of the winning row. Quarantine, the fact table and
    gold.delivery_quality all read this model, so they cannot disagree. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_outcomes('assessments', 'assessment_id')) }}",
) }}

with

assessments as (

    select * from {{ ref('stg_deliveries__assessments') }}
    {% if is_incremental() %}
    where {{ touched_outcomes('assessments', 'assessment_id') }}
    {% endif %}

),

students as (

    select student_id from {{ ref('dim_student') }}

),

judged as (

    select
        assessments.*,
        {{ assessment_reject_reason(
            'assessments.assessment_id',
            'assessments.student_id',
            'assessments.assessed_on',
            'assessments.score',
            'assessments.max_score',
            'students.student_id is not null',
        ) }} as reject_reason

    from assessments
    left join students
        on assessments.student_id = students.student_id

),

final as (

    select
        raw_assessment_id,
        raw_student_id,
        raw_subject,
        raw_score,
        raw_max_score,
        raw_assessed_on,
        assessment_id,
        student_id,
        subject,
        score,
        max_score,
        assessed_on,
        delivery_code,
        _source_file,
        _source_row,
        _dlt_load_id,
        {{ row_outcome('assessment_id', 'reject_reason') }} as outcome

    from judged

)

select * from final
