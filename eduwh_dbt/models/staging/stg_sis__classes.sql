with

source as (

    select * from {{ source('bronze', 'sis_classes') }}

),

renamed as (

    select
        {{ clean_text('class_id') }} as class_id,
        {{ clean_text('class_name') }} as class_name,
        {{ clean_text('programme_code') }} as programme_code,
        {{ clean_text('academic_year') }} as academic_year,
        updated_at

    from source

)

select * from renamed
