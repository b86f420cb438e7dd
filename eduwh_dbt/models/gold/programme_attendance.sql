{#- Absence per programme and academic year, rolled up from student_absence so
    both marts count the same sessions and the same absentees. -#}
{%- set min_sessions = var('absence_min_sessions') -%}
with

student_absence as (

    select * from {{ ref('student_absence') }}

),

programmes as (

    select * from {{ ref('dim_programme') }}

),

per_programme_year as (

    select
        programme_code,
        academic_year,
        count(*) as students,
        count(*) filter (where possible_sessions >= {{ min_sessions }}) as eligible_students,
        count(*) filter (where is_persistent_absentee) as persistent_absentees,
        sum(possible_sessions)::bigint as possible_sessions,
        sum(attended_sessions)::bigint as attended_sessions,
        sum(authorised_absences)::bigint as authorised_absences,
        sum(unauthorised_absences)::bigint as unauthorised_absences

    from student_absence
    -- A student without a known programme cannot be attributed to one.
    where programme_code is not null
    group by programme_code, academic_year

),

final as (

    select
        per_programme_year.programme_code,
        per_programme_year.academic_year,
        -- Left join: a class may name a programme the SIS has not sent yet.
        programmes.programme_name,
        programmes.faculty,
        programmes.level,
        per_programme_year.students,
        per_programme_year.eligible_students,
        per_programme_year.persistent_absentees,
        per_programme_year.persistent_absentees::double
            / nullif(per_programme_year.eligible_students, 0) as persistent_absence_rate,
        per_programme_year.possible_sessions,
        per_programme_year.attended_sessions,
        per_programme_year.authorised_absences,
        per_programme_year.unauthorised_absences,
        -- Every student_absence row has a session, so possible_sessions > 0.
        (per_programme_year.authorised_absences + per_programme_year.unauthorised_absences)::double
            / per_programme_year.possible_sessions as absence_rate

    from per_programme_year
    left join programmes
        on per_programme_year.programme_code = programmes.programme_code

)

select * from final
