{#-
    The validity rules of SPEC.md §4, defined once. Staging models use the
    parsing macros; the outcome models use the reason macros. Tests and docs
    refer to these names rather than restating the rules.
-#}

{#- Whitespace that counts as "surrounding": space, tab, LF, VT, FF, CR. DuckDB's
    one-argument trim() strips spaces only, and a tab-padded id must still match. -#}
{% macro eduwh_whitespace() -%}
    ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)
{%- endmacro %}

{#- Trimmed text, NULL when nothing is left: empty counts as missing. -#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}, {{ eduwh_whitespace() }}), '')
{%- endmacro %}

{#- A date is valid only as YYYY-MM-DD and a real calendar day; the regex keeps
    strptime from accepting forms like `2025-9-8`. NULL when invalid. -#}
{% macro parse_iso_date(column) -%}
    case
        when regexp_full_match({{ clean_text(column) }}, '\d{4}-\d{2}-\d{2}')
            then cast(try_strptime({{ clean_text(column) }}, '%Y-%m-%d') as date)
    end
{%- endmacro %}

{#- A number is a finite decimal literal: sign, digits, fraction, exponent.
    The regex rules out `nan`, `inf` and hex that a plain cast would accept;
    isfinite() rules out exponents that overflow a double. NULL when not numeric. -#}
{% macro parse_number(column) -%}
    case
        when regexp_full_match({{ clean_text(column) }}, '[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?')
            and isfinite(try_cast({{ clean_text(column) }} as double))
            then try_cast({{ clean_text(column) }} as double)
    end
{%- endmacro %}

{% macro attendance_statuses() -%}
    {{ return(['present', 'late', 'absent', 'excused']) }}
{%- endmacro %}

{#- Statuses that count as attending: late is present (SPEC §4). -#}
{% macro present_statuses() -%}
    {{ return(['present', 'late']) }}
{%- endmacro %}

{% macro sql_list(values) -%}
    ({%- for value in values -%}'{{ value }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}

{#- Reason codes in SPEC order; the first rule that fails names the reject.
    Arguments are the cleaned staging columns; `student_known` is a boolean. -#}
{% macro attendance_reject_reason(record_id, student_id, session_date, status, student_known) -%}
    case
        when {{ record_id }} is null or {{ student_id }} is null then 'missing_key'
        when {{ session_date }} is null then 'bad_date'
        when {{ status }} is null or {{ status }} not in {{ sql_list(attendance_statuses()) }} then 'bad_status'
        when not coalesce({{ student_known }}, false) then 'unknown_student'
    end
{%- endmacro %}

{% macro assessment_reject_reason(record_id, student_id, assessed_on, score, max_score, student_known) -%}
    case
        when {{ record_id }} is null or {{ student_id }} is null then 'missing_key'
        when {{ assessed_on }} is null then 'bad_date'
        when {{ score }} is null
            or {{ max_score }} is null
            or {{ max_score }} <= 0
            or {{ score }} < 0
            or {{ score }} > {{ max_score }}
            then 'bad_score'
        when not coalesce({{ student_known }}, false) then 'unknown_student'
    end
{%- endmacro %}

{% macro reject_reasons() -%}
    {{ return(['missing_key', 'bad_date', 'bad_status', 'bad_score', 'unknown_student']) }}
{%- endmacro %}

{% macro row_outcomes() -%}
    {{ return(['loaded', 'superseded'] + reject_reasons()) }}
{%- endmacro %}

{#- "Latest wins" (docs/architecture.md): the greatest delivery_code, then
    _source_file, then _source_row. Plain byte order, as SPEC §3.2 orders codes. -#}
{% macro latest_first() -%}
    delivery_code desc, _source_file desc, _source_row desc
{%- endmacro %}

{#- Outcome of every received row: rows without an id cannot be deduplicated
    and are each missing_key; among rows sharing an id only the latest is
    judged, the others are superseded. -#}
{% macro row_outcome(record_id, reason) -%}
    case
        when {{ record_id }} is null then 'missing_key'
        when row_number() over (partition by {{ record_id }} order by {{ latest_first() }}) > 1 then 'superseded'
        else coalesce({{ reason }}, 'loaded')
    end
{%- endmacro %}
