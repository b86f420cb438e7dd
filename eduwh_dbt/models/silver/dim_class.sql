{#- changed_classes compares the SIS with this table as last built, so it must run first. -#}
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

-- depends_on: {{ ref('changed_classes') }}
