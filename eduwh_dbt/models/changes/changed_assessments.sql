{#- Assessment ids touched since silver was built, with the student, date and
    delivery of each of their rows before and after. -#}

{{ changed_keys('assessments', 'assessment_outcomes', 'assessment_id', 'assessed_on') }}
