{#-
    Incremental maintenance (docs/architecture.md, "Incremental builds").

    The models under models/changes record what changed since the last
    complete build: files whose bronze rows differ from what silver was built
    from, the business keys those files (and changed SIS rows) touch, with the
    attributes each touched row had before and after. They accumulate until a
    build has refreshed every consumer, and are emptied then (see
    eduwh_assets/transform/changes.py), so a build that dies part-way leaves
    them in place and the next build redoes its work.

    Every incremental model states once which of its rows a change touches
    (`touched_rows`); a pre-hook deletes those rows and the model's select
    recomputes them from its inputs, never from itself, in one transaction.
-#}

{#- The table a model built last time, or none: read without ref(), because a
    change model runs before the model it compares against. -#}
{% macro previous_build(model_name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set node = graph.nodes.values() | selectattr('name', 'equalto', model_name) | first -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
{%- endmacro %}

{#- The change model's own rows from earlier builds that have not yet reached
    every consumer, as a `union` clause; nothing on the first build. -#}
{% macro still_pending(columns) -%}
    {%- set earlier = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) if execute else none -%}
    {%- if earlier is not none -%}
        union
        select {{ columns | join(', ') }} from {{ earlier }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of every incremental model: remove the rows the change touches, in
    the transaction that inserts their recomputed form. -#}
{% macro delete_touched(predicate) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ predicate }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Touched rows of an outcome model (one row per received row): every row of
    a touched business key, and every row of a changed file (a row with no key
    changes only with its file). -#}
{% macro touched_outcomes(source, id_column, id_expression=none) -%}
    {%- set id_expression = id_expression or id_column -%}
    (
        {{ id_expression }} in (select {{ id_column }} from {{ ref('changed_' ~ source) }})
        or (delivery_code, _source_file) in (
            select delivery_code, _source_file from {{ ref('changed_files') }} where source = '{{ source }}'
        )
    )
{%- endmacro %}

{#- Touched rows of a fact table: touched keys, and every fact of a student
    whose SIS row changed (the fact takes its class from the student). -#}
{% macro touched_facts(source, id_column) -%}
    (
        {{ id_column }} in (select {{ id_column }} from {{ ref('changed_' ~ source) }})
        or student_id in (select student_id from {{ ref('changed_students') }})
    )
{%- endmacro %}

{#- Students whose gold rows a change touches: changed SIS rows, students of
    touched facts (before and after), and students of a class that changed. -#}
{% macro touched_students() -%}
    (
        select student_id from {{ ref('changed_students') }}
        union
        select student_id from {{ ref('changed_attendance') }} where student_id is not null
        union
        select student_id from {{ ref('changed_assessments') }} where student_id is not null
        union
        select student_id from {{ ref('dim_student') }}
        where class_id in (select class_id from {{ ref('changed_classes') }})
    )
{%- endmacro %}

{#- Classes whose every day a change touches: their roll (active students) or
    their members changed. -#}
{% macro touched_classes() -%}
    (
        select class_id from {{ ref('changed_classes') }}
        union
        select class_id from {{ ref('changed_students') }} where class_id is not null
    )
{%- endmacro %}

{#- (class_id, day) pairs a touched fact falls on, with the student's class. -#}
{% macro touched_class_days() -%}
    (
        select students.class_id, changed.session_date as activity_date
        from {{ ref('changed_attendance') }} as changed
        inner join {{ ref('dim_student') }} as students using (student_id)
        where changed.session_date is not null
        union
        select students.class_id, changed.assessed_on as activity_date
        from {{ ref('changed_assessments') }} as changed
        inner join {{ ref('dim_student') }} as students using (student_id)
        where changed.assessed_on is not null
    )
{%- endmacro %}

{#- Deliveries whose outcome counts a change touches. -#}
{% macro touched_deliveries() -%}
    (
        select delivery_code from {{ ref('changed_files') }}
        union
        select delivery_code from {{ ref('changed_attendance') }}
        union
        select delivery_code from {{ ref('changed_assessments') }}
    )
{%- endmacro %}

{#- Rows of an SIS staging model that differ from the dimension built from it
    last time, either way round, compared on the dimension's columns. -#}
{% macro changed_sis_rows(staging_model, dimension_model, columns) -%}
    {%- set built = previous_build(dimension_model) -%}
    {%- if built is not none -%}
        {%- set compared = [] -%}
        {%- for column in adapter.get_columns_in_relation(built) -%}
            {%- do compared.append(adapter.quote(column.name)) -%}
        {%- endfor %}
    with

    current_rows as (

        select {{ compared | join(', ') }} from {{ ref(staging_model) }}

    ),

    built_rows as (

        select {{ compared | join(', ') }} from {{ built }}

    ),

    differences as (

        (select * from current_rows except select * from built_rows)
        union all
        (select * from built_rows except select * from current_rows)

    )

    select {{ columns | join(', ') }} from differences
    {%- else %}
    {#- Nothing built yet: the build is a full one and has nothing to compare. #}
    select {{ columns | join(', ') }} from {{ ref(staging_model) }} where false
    {%- endif %}
    {{ still_pending(columns) }}
{%- endmacro %}

{#- Business keys of a delivered source touched since silver was built: every
    key in a changed file (as received now and as built before), every key of
    a student whose SIS row changed, and with them every row those keys had
    when silver was built, so marts can find where the old row counted. -#}
{% macro changed_keys(source, outcomes_model, id_column, date_column) -%}
    {%- set built = previous_build(outcomes_model) -%}
    {%- set columns = [id_column, 'student_id', date_column, 'delivery_code'] %}
    with

    changed_files as (

        select delivery_code, _source_file from {{ ref('changed_files') }} where source = '{{ source }}'

    ),

    received as (

        select {{ columns | join(', ') }}
        from {{ ref('stg_deliveries__' ~ source) }}
        where (delivery_code, _source_file) in (select delivery_code, _source_file from changed_files)

    ),

    built as (

        {%- if built is not none %}
        select {{ columns | join(', ') }}, _source_file from {{ built }}
        {%- else %}
        select {{ columns | join(', ') }}, null as _source_file from received where false
        {%- endif %}

    ),

    touched_keys as (

        select {{ id_column }} from received
        union
        select {{ id_column }} from built
        where (delivery_code, _source_file) in (select delivery_code, _source_file from changed_files)
            or student_id in (select student_id from {{ ref('changed_students') }})

    )

    select {{ columns | join(', ') }} from received
    where {{ id_column }} in (select {{ id_column }} from touched_keys)
    union
    select {{ columns | join(', ') }} from built
    where {{ id_column }} in (select {{ id_column }} from touched_keys)
    {{ still_pending(columns) }}
{%- endmacro %}

{#- Rows of class_daily_performance (or the facts feeding it, by their date
    column) that a change touches. -#}
{% macro touched_class_day_rows(date_column) -%}
    (
        class_id in {{ touched_classes() }}
        or (class_id, {{ date_column }}) in {{ touched_class_days() }}
    )
{%- endmacro %}

{#- Whether the latest valid session differs from the as_of_date the risk
    features were built at. -#}
{% macro as_of_date_moved() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set query -%}
        select (select max(session_date) from {{ ref('fact_attendance') }})
            is not distinct from (select max(as_of_date) from {{ this }})
    {%- endset -%}
    {{ return(not run_query(query).columns[0].values()[0]) }}
{%- endmacro %}

{#- Rows of student_risk_features a change touches: all when as_of_date moves. -#}
{% macro touched_risk_rows(student_column='student_id') -%}
    {#- Rendered either way, so that parsing records the models it reads. -#}
    {%- set students = touched_students() -%}
    {%- if as_of_date_moved() -%}
        true
    {%- else -%}
        {{ student_column }} in {{ students }}
    {%- endif -%}
{%- endmacro %}

{#- Data tests that judge only what a build changed. A test whose `where` is
    one of the placeholders below (dbt renders no project macros in `where`, so
    the placeholder is replaced here, in the hook dbt offers for it) reads, in
    an incremental build, only the rows the change touched: a duplicate key or
    row always has a touched row among its copies, since untouched rows passed
    when they were built. A full build judges every row. dbt parses its
    built-in not_null and unique without rendering them, so it would not see
    the change models such a test reads: only eduwh's own generic tests take a
    placeholder. -#}
{% macro get_where_subquery(relation) -%}
    {#- While parsing, the YAML config is on the test node, not yet in config. -#}
    {%- set where = config.get('where') or model.config.where or '' -%}
    {%- if where == '__touched_attendance_rows__' -%}
        {%- set where = touched_test_rows(touched_outcomes('attendance', 'attendance_id')) -%}
    {%- elif where == '__touched_assessment_rows__' -%}
        {%- set where = touched_test_rows(touched_outcomes('assessments', 'assessment_id')) -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The predicate is rendered either way, so that parsing records the change
    models the test reads; a full build leaves it out. -#}
{% macro touched_test_rows(predicate) -%}
    {{ return('true' if flags.FULL_REFRESH else predicate) }}
{%- endmacro %}
