with

programmes as (

    select * from {{ ref('stg_sis__programmes') }}

),

final as (

    select
        programme_code,
        programme_name,
        faculty,
        level

    from programmes

)

select * from final
