{#-
    The validity rules of SPEC.md §4, defined once. Staging models use the
    parsing macros; the outcome models use the reason macros. Tests and docs
    refer to these names rather than restating the rules.
-#}

{#- Whitespace that counts as "surrounding" (vars.whitespace_code_points). DuckDB's
    one-argument trim() strips spaces only, and a tab-padded id must still match. -#}
{% macro eduwh_whitespace() -%}
    {%- for code_point in var('whitespace_code_points') -%}
        chr({{ code_point }}){% if not loop.last %} || {% endif %}
    {%- endfor -%}
{%- endmacro %}

{#- Trimmed text, NULL when nothing is left: empty counts as missing.
    On distinct values (ids) trim() with a character set costs about eight
    times the test of the first and last characters (0.24 against 0.03 µs a
    row, 10M attendance ids). So text whose end characters both lie above
    every whitespace code point, nearly all of it, is taken as it is, and only
    the rest is trimmed. ascii(reverse()) rather than right(): it keeps
    DuckDB's once-per-dictionary evaluation of repeated values (dates). -#}
{% macro clean_text(column) -%}
    {%- set above_whitespace = var('whitespace_code_points') | max -%}
    case
        when ascii({{ column }}) > {{ above_whitespace }} and ascii(reverse({{ column }})) > {{ above_whitespace }}
            then {{ column }}
        else nullif(trim({{ column }}, {{ eduwh_whitespace() }}), '')
    end
{%- endmacro %}

{#- A date is valid only as YYYY-MM-DD and a real calendar day; the regex keeps
    strptime from accepting forms like `2025-9-8`. NULL when invalid. -#}
{% macro parse_iso_date(column) -%}
    case
        when regexp_full_match({{ clean_text(column) }}, '{{ var("date_text") }}')
            then cast(try_strptime({{ clean_text(column) }}, '%Y-%m-%d') as date)
    end
{%- endmacro %}

{#- A number is a finite decimal literal: sign, digits, fraction, exponent.
    The regex rules out `nan`, `inf` and hex that a plain cast would accept;
    isfinite() rules out exponents that overflow a double. NULL when not numeric. -#}
{% macro parse_number(column) -%}
    case
        when regexp_full_match({{ clean_text(column) }}, '{{ var("number_text") }}')
            and isfinite(try_cast({{ clean_text(column) }} as double))
            then try_cast({{ clean_text(column) }} as double)
    end
{%- endmacro %}

{#- The codes come from the `vars` of dbt_project.yml, their one home. -#}
{% macro attendance_statuses() -%}
    {{ return(var('attendance_statuses').keys() | list) }}
{%- endmacro %}

{#- The statuses that count as `kind` (present, absent or excused): late counts as present. -#}
{% macro statuses_counted_as(kind) -%}
    {%- set statuses = [] -%}
    {%- for status, counted_as in var('attendance_statuses').items() if counted_as == kind -%}
        {%- do statuses.append(status) -%}
    {%- endfor -%}
    {%- if not statuses -%}
        {{ exceptions.raise_compiler_error("no attendance status counts as '" ~ kind ~ "' in vars.attendance_statuses") }}
    {%- endif -%}
    {{ return(statuses) }}
{%- endmacro %}

{% macro present_statuses() -%}
    {{ return(statuses_counted_as('present')) }}
{%- endmacro %}

{#- `column` holds a status that counts as `kind`. -#}
{% macro status_counts_as(column, kind) -%}
    {{ column }} in {{ sql_list(statuses_counted_as(kind)) }}
{%- endmacro %}

{% macro sql_list(values) -%}
    ({%- for value in values -%}'{{ value }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}

{#- Reason codes in SPEC order; the first rule that fails names the reject.
    Arguments are the cleaned staging columns; `student_known` is a boolean. -#}
{% macro attendance_reject_reason(record_id, student_id, session_date, status, student_known) -%}
    case
        when {{ record_id }} is null or {{ student_id }} is null then {{ reason('missing_key') }}
        when {{ session_date }} is null then {{ reason('bad_date') }}
        when {{ status }} is null or {{ status }} not in {{ sql_list(attendance_statuses()) }} then {{ reason('bad_status') }}
        when not coalesce({{ student_known }}, false) then {{ reason('unknown_student') }}
    end
{%- endmacro %}

{% macro assessment_reject_reason(record_id, student_id, assessed_on, score, max_score, student_known) -%}
    case
        when {{ record_id }} is null or {{ student_id }} is null then {{ reason('missing_key') }}
        when {{ assessed_on }} is null then {{ reason('bad_date') }}
        when {{ score }} is null
            or {{ max_score }} is null
            or {{ max_score }} <= 0
            or {{ score }} < 0
            or {{ score }} > {{ max_score }}
            then {{ reason('bad_score') }}
        when not coalesce({{ student_known }}, false) then {{ reason('unknown_student') }}
    end
{%- endmacro %}

{#- Reason codes in SPEC order, and those judged on one source. -#}
{% macro reject_reasons(source=none) -%}
    {%- set reasons = [] -%}
    {%- for code, sources in var('reject_reasons').items() if source is none or source in sources -%}
        {%- do reasons.append(code) -%}
    {%- endfor -%}
    {{ return(reasons) }}
{%- endmacro %}

{#- A reason code as a SQL literal; a code missing from vars.reject_reasons fails the compile. -#}
{% macro reason(code) -%}
    {%- if code not in var('reject_reasons') -%}
        {{ exceptions.raise_compiler_error("'" ~ code ~ "' is not in vars.reject_reasons") }}
    {%- endif -%}
    '{{ code }}'
{%- endmacro %}

{#- Every outcome a received row can have: loaded, superseded or a reject reason. -#}
{% macro row_outcomes(source=none) -%}
    {{ return([var('loaded_outcome'), var('superseded_outcome')] + reject_reasons(source)) }}
{%- endmacro %}

{#- "Latest wins" (docs/architecture.md): the greatest delivery_code, then
    _source_file, then _source_row. Plain byte order, as SPEC §3.2 orders codes. -#}
{% macro latest_first() -%}
    delivery_code desc, _source_file desc, _source_row desc
{%- endmacro %}

{#- Outcome of every received row: rows without an id cannot be deduplicated
    and are each missing_key; among rows sharing an id only the latest is
    judged, the others are superseded. -#}
{% macro row_outcome(record_id, reject_reason) -%}
    case
        when {{ record_id }} is null then {{ reason('missing_key') }}
        when row_number() over (partition by {{ record_id }} order by {{ latest_first() }}) > 1
            then '{{ var("superseded_outcome") }}'
        else coalesce({{ reject_reason }}, '{{ var("loaded_outcome") }}')
    end
{%- endmacro %}
