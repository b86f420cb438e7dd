{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(touched_facts('assessments', 'assessment_id')) }}",
) }}

with

outcomes as (

    select * from {{ ref('assessment_outcomes') }}
    {% if is_incremental() %}
    where {{ touched_facts('assessments', 'assessment_id') }}
    {% endif %}

),

students as (

    select * from {{ ref('dim_student') }}

),

final as (

    select
        outcomes.assessment_id,
        outcomes.student_id,
        students.class_id,
        outcomes.subject,
        outcomes.score,
        outcomes.max_score,
        100 * outcomes.score / outcomes.max_score as score_pct,
        outcomes.assessed_on,
        outcomes.delivery_code,
        outcomes._source_file

    from outcomes
    inner join students
        on outcomes.student_id = students.student_id
    where outcomes.outcome = '{{ var("loaded_outcome") }}'

)

select * from final
