{#- Absence per student and academic year, in the sector's terms: an excused
    session is an authorised absence, so it counts as absence (SPEC §4).
    Thresholds are dbt variables and band limits the absence_bands seed, so a
    school changes them in one place and rebuilds. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched('student_id in ' ~ touched_students()) }}",
) }}
{%- set persistent_threshold = var('persistent_absence_threshold') -%}
{%- set severe_threshold = var('severe_absence_threshold') -%}
{%- set min_sessions = var('absence_min_sessions') -%}
with

students as (

    select * from {{ ref('dim_student') }}
    {% if is_incremental() %}
    where student_id in {{ touched_students() }}
    {% endif %}

),

classes as (

    select * from {{ ref('dim_class') }}

),

attendance as (

    select * from {{ ref('fact_attendance') }}
    {% if is_incremental() %}
    where student_id in {{ touched_students() }}
    {% endif %}

),

bands as (

    select * from {{ ref('absence_bands') }}

),

sessions as (

    select
        attendance.attendance_id,
        attendance.student_id,
        attendance.session_date,
        attendance.status,
        {{ academic_year('attendance.session_date') }} as academic_year,
        attendance.status in {{ sql_list(statuses_counted_as('absent') + statuses_counted_as('excused')) }} as is_absence

    from attendance
    -- Only students the SIS knows get a row; valid facts always have one, but
    -- the mart's grain is defined over dim_student.
    inner join students
        on attendance.student_id = students.student_id

),

sessions_in_streaks as (

    {#- Gaps and islands: every session that is not an absence closes the run
        before it, so the count of such sessions so far names the run an
        absence belongs to. attendance_id breaks ties between sessions on the
        same day, so the order (and the streak) is deterministic. -#}
    select
        *,
        count(*) filter (where not is_absence) over (
            partition by student_id, academic_year
            order by session_date, attendance_id
            rows between unbounded preceding and current row
        ) as attended_sessions_so_far

    from sessions

),

absence_streaks as (

    select
        student_id,
        academic_year,
        count(*) as streak_length

    from sessions_in_streaks
    where is_absence
    group by student_id, academic_year, attended_sessions_so_far

),

longest_streaks as (

    select
        student_id,
        academic_year,
        max(streak_length) as longest_absence_streak

    from absence_streaks
    group by student_id, academic_year

),

sessions_per_student_year as (

    select
        student_id,
        academic_year,
        count(*) as possible_sessions,
        count(*) filter (where {{ status_counts_as('status', 'present') }}) as attended_sessions,
        count(*) filter (where {{ status_counts_as('status', 'excused') }}) as authorised_absences,
        count(*) filter (where {{ status_counts_as('status', 'absent') }}) as unauthorised_absences

    from sessions
    group by student_id, academic_year

),

rated as (

    select
        *,
        -- possible_sessions is at least 1: a row exists only when a session does.
        (authorised_absences + unauthorised_absences)::double / possible_sessions as absence_rate,
        possible_sessions >= {{ min_sessions }} as has_enough_sessions

    from sessions_per_student_year

),

banded as (

    select
        rated.student_id,
        rated.academic_year,
        -- The band whose lower limit is the greatest one the rate reaches.
        arg_max(bands.band, bands.min_absence_rate) as absence_band

    from rated
    inner join bands
        on rated.absence_rate >= bands.min_absence_rate
    where rated.has_enough_sessions
    group by rated.student_id, rated.academic_year

),

final as (

    select
        rated.student_id,
        rated.academic_year,
        students.class_id,
        classes.programme_code,
        rated.possible_sessions,
        rated.attended_sessions,
        rated.authorised_absences,
        rated.unauthorised_absences,
        rated.absence_rate,
        rated.has_enough_sessions
            and rated.absence_rate >= cast({{ persistent_threshold }} as double) as is_persistent_absentee,
        rated.has_enough_sessions
            and rated.absence_rate >= cast({{ severe_threshold }} as double) as is_severe_absentee,
        banded.absence_band,
        coalesce(longest_streaks.longest_absence_streak, 0) as longest_absence_streak

    from rated
    inner join students
        on rated.student_id = students.student_id
    left join classes
        on students.class_id = classes.class_id
    left join banded
        on rated.student_id = banded.student_id
        and rated.academic_year = banded.academic_year
    left join longest_streaks
        on rated.student_id = longest_streaks.student_id
        and rated.academic_year = longest_streaks.academic_year

)

select * from final
