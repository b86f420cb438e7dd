{#- Classes whose SIS row was added, changed or removed since dim_class was built. -#}

{{ changed_sis_rows('stg_sis__classes', 'dim_class', ['class_id']) }}
