with

source as (

    select * from {{ source('bronze', 'sis_students') }}

),

renamed as (

    select
        {{ clean_text('student_id') }} as student_id,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ clean_text('email') }} as email,
        cast(date_of_birth as date) as date_of_birth,
        {{ clean_text('gender') }} as gender,
        {{ clean_text('class_id') }} as class_id,
        lower({{ clean_text('enrolment_status') }}) as enrolment_status,
        updated_at

    from source

)

select * from renamed
