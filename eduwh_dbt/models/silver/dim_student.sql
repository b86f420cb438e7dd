{#- changed_students compares the SIS with this table as last built, so it must run first. -#}
{#- SCD type 1: the SIS row as it is now. Facts take their class_id from here. -#}
with

students as (

    select * from {{ ref('stg_sis__students') }}

),

final as (

    select
        student_id,
        first_name,
        last_name,
        email,
        date_of_birth,
        gender,
        class_id,
        enrolment_status

    from students

)

select * from final

-- depends_on: {{ ref('changed_students') }}
