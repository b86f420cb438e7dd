{#- Students whose SIS row was added, changed or removed since dim_student was
    built, with the class they had before and the class they have now. -#}

{{ changed_sis_rows('stg_sis__students', 'dim_student', ['student_id', 'class_id']) }}
