with

classes as (

    select * from {{ ref('stg_sis__classes') }}

),

final as (

    select
        class_id,
        class_name,
        programme_code,
        academic_year

    from classes

)

select * from final
