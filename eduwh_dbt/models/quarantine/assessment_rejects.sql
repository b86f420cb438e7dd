{#- Rejected assessment rows with the values exactly as received, so a fix can
    be traced back to the delivery, file and row. Recomputed from bronze
    for whatever a run touches. -#}
{#- The rejects keep the id as received, so the pre-hook matches on its cleaned form. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_outcomes('assessments', 'assessment_id', clean_text('assessment_id'))) }}",
) }}

with

outcomes as (

    select * from {{ ref('assessment_outcomes') }}
    {% if is_incremental() %}
    where {{ touched_outcomes('assessments', 'assessment_id') }}
    {% endif %}

),

final as (

    select
        raw_assessment_id as assessment_id,
        raw_student_id as student_id,
        raw_subject as subject,
        raw_score as score,
        raw_max_score as max_score,
        raw_assessed_on as assessed_on,
        delivery_code,
        _source_file,
        _source_row,
        outcome as reason

    from outcomes
    where outcome in {{ sql_list(reject_reasons()) }}

)

select * from final
