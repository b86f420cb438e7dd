with

source as (

    select * from {{ source('bronze', 'sis_programmes') }}

),

renamed as (

    select
        {{ clean_text('programme_code') }} as programme_code,
        {{ clean_text('programme_name') }} as programme_name,
        {{ clean_text('faculty') }} as faculty,
        {{ clean_text('level') }} as level,
        updated_at

    from source

)

select * from renamed
