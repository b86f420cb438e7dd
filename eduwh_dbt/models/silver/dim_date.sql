{#- Every day from the first to the last date a fact refers to, so each fact's
    date resolves here with no gaps in between. -#}
with

fact_dates as (

    select session_date as date_day from {{ ref('fact_attendance') }}
    union all
    select assessed_on as date_day from {{ ref('fact_assessment') }}

),

bounds as (

    select min(date_day) as first_day, max(date_day) as last_day
    from fact_dates

),

days as (

    select cast(generated.day as date) as date_day
    from bounds,
        generate_series(bounds.first_day, bounds.last_day, interval 1 day) as generated(day)
    where bounds.first_day is not null

),

final as (

    select
        date_day,
        year(date_day) as year,
        month(date_day) as month,
        day(date_day) as day_of_month,
        isodow(date_day) as day_of_week,
        dayname(date_day) as day_name,
        isodow(date_day) in (6, 7) as is_weekend,
        {{ academic_year('date_day') }} as academic_year

    from days

)

select * from final
