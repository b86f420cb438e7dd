{#- Attendance ids touched since silver was built, with the student, date and
    delivery of each of their rows before and after. -#}

{{ changed_keys('attendance', 'attendance_outcomes', 'attendance_id', 'session_date') }}
