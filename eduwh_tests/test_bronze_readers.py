"""The delivered-file readers (eduwh_assets/bronze/readers/) on files much larger than their
blocks: small block and batch sizes stand in for big files, and every expected value is computed
independently, with Python's csv and json modules over the whole text."""

import csv
import io
import json
import os
import random

import pytest

from eduwh_assets.bronze.readers import read_delivered_file
from eduwh_assets.bronze.readers.columns import ASSESSMENT_COLUMNS, ATTENDANCE_COLUMNS
from eduwh_assets.bronze.readers.file_input import FileRejected
from eduwh_assets.sources.landing import LandingZone

HEADER = "attendance_id,student_id,session_date,status,note"


def read(source: str, name: str, data: bytes, **options) -> list[dict]:
    """Every row of a file through read_delivered_file, in order."""
    with read_delivered_file(source, name, lambda: io.BytesIO(data), **options) as parsed:
        rows = [row for table in parsed.batches() for row in table.to_pylist()]
    assert parsed.num_rows == len(rows)
    return rows


def rejection(source: str, name: str, data: bytes, **options) -> str:
    with pytest.raises(FileRejected) as caught:
        read_delivered_file(source, name, lambda: io.BytesIO(data), **options)
    return str(caught.value)


def csv_rows(text: str) -> list[dict]:
    """The attendance columns of a CSV text, by Python's csv module over the whole text."""
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    header = [name.strip() for name in records[0]]
    return [{c: r[header.index(c)] for c in ATTENDANCE_COLUMNS} for r in records[1:]]


def attendance_text(n: int, seed: int = 7) -> str:
    """n rows with quoted commas, quotes, LF and CRLF inside values, empty fields, blank lines and a note."""
    rng = random.Random(seed)
    values = ["present", "", '"late, very"', '"say ""hi"""', '"two\nlines"', '"crlf\r\nvalue"', "é", " Absent "]
    lines = [HEADER]
    for i in range(n):
        if i % 97 == 0:
            lines.append("")
        note = '"' + "n" * rng.randint(0, 300) + '\nend"'
        lines.append(f"A{i},S{i % 50},{rng.choice(values)},{rng.choice(values)},{note}")
    return "\n".join(lines) + "\n"


# --- CSV ------------------------------------------------------------------------------------------


def test_a_csv_many_blocks_long_gives_exactly_the_rows_of_the_whole_file(tmp_path):
    text = attendance_text(3000)
    data = text.encode()
    expected = csv_rows(text)
    assert len(expected) == 3000 and len(data) > 130 * 4096  # over a hundred blocks

    spool = tmp_path / "spool"
    spool.mkdir()
    with read_delivered_file("attendance", "a.csv", lambda: io.BytesIO(data), spool_dir=str(spool),
                             block_size=4096, batch_rows=700) as parsed:
        assert parsed.num_rows == 3000
        assert len(os.listdir(spool)) == 1  # parsed rows wait on disk, not in memory
        tables = list(parsed.batches())
    assert os.listdir(spool) == []  # closing removes the spool
    assert [t.column_names for t in tables] == [list(ATTENDANCE_COLUMNS)] * len(tables)
    assert all(str(t.schema.field(c).type) == "string" for t in tables for c in ATTENDANCE_COLUMNS)
    # One batch per ~700 rows (each flush holds whole blocks, so a little more).
    assert 3 <= len(tables) <= 5 and sum(t.num_rows for t in tables) == 3000
    assert [row for t in tables for row in t.to_pylist()] == expected


def test_a_file_that_fits_one_batch_is_never_spooled(tmp_path):
    text = attendance_text(50)
    spool = tmp_path / "spool"
    spool.mkdir()
    with read_delivered_file("attendance", "a.csv", lambda: io.BytesIO(text.encode()), spool_dir=str(spool),
                             block_size=4096) as parsed:
        assert os.listdir(spool) == []
        assert [r for t in parsed.batches() for r in t.to_pylist()] == csv_rows(text)


def test_a_quoted_newline_across_a_block_boundary_is_kept(tmp_path):
    # The value "x\r\ny\nz" lands on every position relative to a 64-byte block boundary.
    for pad in range(70):
        text = HEADER + "\n" + f'A0,{"p" * pad},d,s,n\n' + 'A1,S1,d,"x\r\ny\nz",n\n' + "A2,S2,d,s,n\n" * 20
        assert read("attendance", "a.csv", text.encode(), block_size=64) == csv_rows(text), pad


def test_a_malformed_row_far_past_the_first_block_rejects_the_file_naming_its_line(tmp_path):
    text = attendance_text(2000)
    rows = text.split("\n")
    # Put a two-field row before the record that starts on or after physical line 3000
    # (quoted newlines make lines and rows differ).
    bad_line = next(n for n in range(3000, len(rows)) if rows[n - 1].startswith("A"))
    rows.insert(bad_line - 1, "X1,S1")
    broken = "\n".join(rows)
    assert len("\n".join(rows[:bad_line]).encode()) > 50 * 4096  # far past the first block

    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(FileRejected) as caught:
        read_delivered_file("attendance", "a.csv", lambda: io.BytesIO(broken.encode()), spool_dir=str(spool),
                            block_size=4096, batch_rows=100)
    assert str(caught.value) == f"a.csv: line {bad_line}: expected 5 fields, found 2 (1 malformed row(s) in the file)"
    assert os.listdir(spool) == []  # nothing of the rejected file is left


def test_bad_utf8_far_past_the_first_block_names_its_line_and_byte():
    data = attendance_text(2000).encode()
    at = data.index(b"A1800,") + 1  # inside attendance_id "A1800"
    broken = data[:at] + b"\xff" + data[at + 1 :]
    line = broken[:at].count(b"\n") + 1
    assert line > 3000 and at > 50 * 4096
    assert rejection("attendance", "a.csv", broken, block_size=4096) == f"a.csv: line {line}: not UTF-8 text (byte {at + 1})"


def test_a_quote_never_closed_names_the_line_where_its_row_starts():
    text = HEADER + "\n" + "A1,S1,d,s,n\n" * 500 + 'A2,"S2,d,s,n\n' + "A3,S3,d,s,n\n" * 500
    assert rejection("attendance", "a.csv", text.encode(), block_size=1024) == (
        "a.csv: line 502: the row does not end within 1,024 bytes; is a quoted value never closed?"
    )


def test_header_rules_hold_when_streaming():
    # BOM, padded names, columns in another order, an extra column, empty fields kept as "".
    data = "\ufeff status , note,attendance_id ,session_date,student_id\r\n,x,A1,,S1\r\nlate,y,A2,2025-09-08,\r\n"
    assert read("attendance", "a.csv", data.encode(), block_size=64) == [
        {"attendance_id": "A1", "student_id": "S1", "session_date": "", "status": ""},
        {"attendance_id": "A2", "student_id": "", "session_date": "2025-09-08", "status": "late"},
    ]
    assert read("attendance", "a.csv", b"attendance_id,student_id,session_date,status") == []
    assert rejection("attendance", "a.csv", b"attendance_id,student_id\nA1,S1\n") == (
        "a.csv: line 1 (header): missing required column(s) session_date, status; found attendance_id,student_id"
    )
    assert rejection("attendance", "a.csv", b"attendance_id,st\xe9tus\n") == "a.csv: line 1 (header): not UTF-8 text (byte 17)"


# --- JSON -----------------------------------------------------------------------------------------


def json_text(value) -> str | None:
    """How bronze keeps a JSON value, computed from json.loads' own result."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_rows(text: str) -> list[dict]:
    doc = json.loads(text, parse_int=str, parse_float=str, parse_constant=str)
    return [{c: json_text(record.get(c)) for c in ASSESSMENT_COLUMNS} for record in doc]


SCORES = ["85.0", "1e400", "-0.5E+3", "12345678901234567890", "true", "null", '"eighty"']


def assessment_elements(n: int) -> list[str]:
    """n JSON objects: literal numbers, multi-byte text, U+2028, escapes, nested values."""
    elements = []
    for i in range(n):
        subject = "Math\u00e9\u2028matics " + "\u20ac" * (i % 5)
        elements.append(
            f'{{"assessment_id": "X{i}", "student_id": "S{i % 9}",\n  "subject": "{subject}",'
            f' "score": {SCORES[i % 7]}, "max_score": {i}.50, "assessed_on": {{"d": [1, 2.0, "2025"]}},'
            ' "extra": "\\u00e9\\ud834\\udd1e"}'
        )
    return elements


def assessments_text(n: int) -> str:
    return "[\n" + ",\n ".join(assessment_elements(n)) + "\n]\n"


def test_a_json_array_whose_elements_straddle_blocks_parses_exactly():
    text = assessments_text(300)
    expected = json_rows(text)
    assert expected[1]["score"] == "1e400" and expected[0]["score"] == "85.0" and expected[4]["score"] == "true"
    data = text.encode()
    for block_size in (1, 2, 3, 7, 61, 4096):  # 1 and 2 split multi-byte characters and every token
        assert read("assessments", "x.json", data, block_size=block_size, batch_rows=64) == expected, block_size


def test_braces_inside_strings_never_end_a_run_of_elements():
    # Whole runs of elements are decoded at once, cut at the last "}" read so far: a "}"
    # inside a string, or one that looks like the end of an element, must not cut there.
    tricky = ['"}"', '"a}, {\\"assessment_id\\": \\"FAKE\\"}"', '"}]"', '"\\\\}"', '"{\\"x\\": 1}"']
    elements = [
        f'{{"assessment_id": "X{i}", "subject": {tricky[i % len(tricky)]}, "score": {i}.0}}' for i in range(400)
    ]
    text = "[" + ",\n".join(elements) + "]"
    expected = json_rows(text)
    assert len(expected) == 400 and expected[1]["subject"] == 'a}, {"assessment_id": "FAKE"}'
    for block_size in (3, 50, 997, 1 << 20):
        assert read("assessments", "x.json", text.encode(), block_size=block_size, batch_rows=37) == expected, block_size


def after(marker: str, old: str, new: str):
    """A change of the first `old` after `marker` (an element deep in the file) into `new`."""

    def change(text: str) -> str:
        at = text.index(old, text.index(marker))
        return text[:at] + new + text[at + len(old) :]

    return change


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(after('"X204"', '"X204",', '"X204"'), id="comma-in-object"),
        pytest.param(after('"X180"', "},\n {", "} {"), id="comma-between-elements"),
        pytest.param(lambda t: t[: t.rindex("}") + 1] + ",\n]\n", id="trailing-comma"),
        pytest.param(after('"X250"', '"X250"', '"X250'), id="string-never-closed"),
        pytest.param(after('"X222"', "222.50", "222."), id="number-cut-short"),
        pytest.param(after('"X207"', '"score": true', '"score": tru'), id="bad-literal"),
        pytest.param(after('"X260"', '"X260"', '"X2\x0160"'), id="control-character"),
        pytest.param(after('"X230"', "\\u00e9", "\\u00g9"), id="bad-escape"),
        pytest.param(lambda t: t + "  [", id="data-after-the-array"),
        pytest.param(lambda t: t[: len(t) // 2], id="cut-off"),
        pytest.param(lambda t: "  \n" + t.replace("[", "{", 1), id="not-an-array"),
    ],
)
def test_a_json_error_deep_in_a_file_names_the_line_and_column_json_does(change):
    text = change(assessments_text(300))
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)
    exc = caught.value
    assert exc.lineno > 300 or text.startswith("  \n{")  # deep in the file, or not an array at all
    expected = f"x.json: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    for block_size in (1, 5, 64, 1 << 20):
        assert rejection("assessments", "x.json", text.encode(), block_size=block_size) == expected, block_size


def test_a_json_array_of_something_else_is_rejected():
    assert rejection("assessments", "x.json", b'{"assessment_id": "X1"}') == (
        "x.json: line 1: expected a JSON array of objects, found an object"
    )
    assert rejection("assessments", "x.json", b'[{"assessment_id": "X1"},\n 7]', block_size=3) == (
        "x.json: element 2: expected a JSON object, found '7'"
    )
    assert read("assessments", "x.json", b"\xef\xbb\xbf [ ] \n") == []


def test_an_element_longer_than_the_limit_rejects_the_file_without_reading_on():
    element = '{"assessment_id": "X1", "subject": "' + "s" * 5000 + '"}'
    text = "[" + element + ",\n" + element + "]"
    assert len(read("assessments", "x.json", text.encode(), block_size=512, max_value_size=6000)) == 2
    never_closed = '[{"assessment_id": "X1"},\n {"assessment_id": "X2' + "s" * 100_000 + '"}]'
    assert rejection("assessments", "x.json", never_closed.encode(), block_size=512, max_value_size=6000) == (
        "x.json: element 2 at line 2, column 2 is longer than 6,000 bytes"
    )


def test_json_lines_are_read_line_by_line():
    lines = [element.replace("\n", " ") for element in assessment_elements(200)]
    text = "\ufeff" + "\n\n".join(lines[:100]) + "\r\n   \n" + "\n".join(lines[100:])  # BOM, blank lines, CRLF
    assert "\u2028" in text
    expected = json_rows("[" + ",".join(lines) + "]")
    for block_size in (1, 7, 4096):
        assert read("assessments", "x.jsonl", text.encode(), block_size=block_size, batch_rows=33) == expected

    # Errors name the physical line, blank lines counted.
    physical = text.split("\n")
    number = next(i for i, line in enumerate(physical, start=1) if '"X150"' in line)
    broken = "\n".join(line.replace('"X150",', '"X150" ') for line in physical)
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(physical[number - 1].replace('"X150",', '"X150" '))
    assert rejection("assessments", "x.jsonl", broken.encode(), block_size=7) == (
        f"x.jsonl: invalid JSON at line {number}, column {caught.value.colno}: Expecting ',' delimiter"
    )
    data = text.encode()
    at = data.index(b'"X170"') + 2
    bad = data[:at] + b"\xc3(" + data[at + 2 :]
    line = bad[:at].count(b"\n") + 1
    assert rejection("assessments", "x.jsonl", bad, block_size=7) == f"x.jsonl: line {line}: not UTF-8 text (byte {at + 1})"


def test_an_unpaired_surrogate_escape_rejects_the_file():
    data = b'[{"assessment_id": "X1"}, {"assessment_id": "X2", "subject": "a\\ud800b"}]'
    assert rejection("assessments", "x.json", data) == (
        "x.json: element 2: subject holds an unpaired surrogate \\ud800, which is not text"
    )


# --- the landing zone ---------------------------------------------------------------------------


def test_landing_zone_files_are_read_through_open_file(tmp_path):
    (tmp_path / "D1").mkdir()
    text = attendance_text(400)
    (tmp_path / "D1" / "attendance.csv").write_bytes(text.encode())
    zone = LandingZone(str(tmp_path))
    path = f"{zone.root}/D1/attendance.csv"
    with read_delivered_file("attendance", "attendance.csv", lambda: zone.open_file(path), block_size=4096) as parsed:
        assert [r for t in parsed.batches() for r in t.to_pylist()] == csv_rows(text)
    with pytest.raises(FileNotFoundError):
        read_delivered_file("attendance", "gone.csv", lambda: zone.open_file(f"{zone.root}/D1/gone.csv"))
