"""Delivered files -> their value columns as text, read in bounded blocks.

    with read_delivered_file("attendance", name, lambda: zone.open_file(path)) as parsed:
        parsed.num_rows              # every row of the file, known before any is handed out
        for table in parsed.batches():
            ...                      # pa.Table of VALUE_COLUMNS[source], all pa.string()

`read_delivered_file` parses and validates the whole file before it returns, so
a broken file raises FileRejected and none of its rows is ever handed on. Peak
memory does not grow with the file: it is read a block at a time
(`pyarrow.csv.open_csv` for CSV, line by line for JSON Lines, element by element
for JSON arrays), and the parsed rows are spooled to a local Arrow IPC file,
which `batches()` reads back one batch at a time once the file has parsed
cleanly. A file that fits in one batch stays in memory and is never spooled.
Closing the ParsedFile removes the spool.

Values are kept as text exactly as received; judging them is silver's job:
- CSV: the header is the first line; columns are matched on their trimmed
  names, extra columns are ignored, a UTF-8 BOM is accepted, empty fields stay
  "" and quoted values may hold newlines. A row with the wrong number of fields
  rejects the whole file, naming its line.
- JSON: numbers keep their literal text (`85.0`, `1e400`), booleans become
  `true` / `false`, nested values compact JSON text, an absent field NULL.
  `.jsonl` is split on "\\n" only (never U+2028) and blank lines are skipped;
  `.json` must be an array of objects.
Every FileRejected message starts with the file name and says where: the line
(and for JSON syntax errors the column, as `json.loads` of the whole text would
report it), and for text that is not UTF-8 the byte offset in the file.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Self

import pyarrow as pa
import pyarrow.csv as pcsv

ATTENDANCE_COLUMNS = ("attendance_id", "student_id", "session_date", "status")
ASSESSMENT_COLUMNS = ("assessment_id", "student_id", "subject", "score", "max_score", "assessed_on")
VALUE_COLUMNS: dict[str, tuple[str, ...]] = {"attendance": ATTENDANCE_COLUMNS, "assessments": ASSESSMENT_COLUMNS}

# Bytes read from the landing zone at a time, and the longest CSV row accepted. pyarrow's CSV
# reader reads up to ~32 blocks ahead on a background thread, so this stays at 1 MiB.
BLOCK_SIZE = 1 << 20
# Rows per Arrow table in the spool and out of ParsedFile.batches() (~5 MB of attendance values).
READ_BATCH_ROWS = 100_000
# ...or fewer, so a batch of long values stays small too.
READ_BATCH_BYTES = 64 << 20
# The longest single JSON element, JSON line or CSV header accepted: an unclosed string or
# bracket would otherwise have the reader buffer the rest of the file.
MAX_VALUE_SIZE = 64 << 20

UTF8_BOM = b"\xef\xbb\xbf"

OpenBinary = Callable[[], BinaryIO]


class FileRejected(ValueError):
    """One delivered file cannot be read. The message starts with the file name and says where."""


# --- the parsed file and its spool ----------------------------------------------------------------


class ParsedFile:
    """A delivered file that parsed cleanly: its row count and its value columns, batch by batch.

    A context manager: leaving it removes the spool file.
    """

    def __init__(self, schema: pa.Schema, num_rows: int, tables: list[pa.Table], spool_path: str | None):
        self.schema = schema
        self.num_rows = num_rows
        self._tables = tables  # the whole file, when it was small enough never to be spooled
        self._spool_path = spool_path

    def batches(self) -> Iterator[pa.Table]:
        """The file's rows in file order, in tables of up to about READ_BATCH_ROWS rows."""
        if self._spool_path is None:
            if self._tables:
                yield pa.concat_tables(self._tables)
            return
        # A plain file, not a memory map: each batch is read onto the heap and freed once
        # the caller drops it, so reading back costs one batch of memory, not the file.
        with pa.OSFile(self._spool_path, "rb") as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield pa.Table.from_batches([reader.get_batch(i)], schema=self.schema)

    def close(self) -> None:
        self._tables = []
        if self._spool_path is not None:
            try:
                os.remove(self._spool_path)
            except FileNotFoundError:
                pass
            self._spool_path = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Spool:
    """Tables parsed from one file: held in memory up to one batch, then written to an Arrow IPC file."""

    def __init__(self, columns: tuple[str, ...], spool_dir: str | None, batch_rows: int, batch_bytes: int):
        self.schema = pa.schema([pa.field(c, pa.string()) for c in columns])
        self.num_rows = 0
        self._dir = spool_dir
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._path: str | None = None
        self._sink: pa.NativeFile | None = None
        self._writer: pa.ipc.RecordBatchFileWriter | None = None

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self._pending.append(table)
        self.num_rows += table.num_rows
        self._pending_rows += table.num_rows
        self._pending_bytes += table.nbytes
        if self._pending_rows >= self.batch_rows or self._pending_bytes >= self.batch_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            fd, self._path = tempfile.mkstemp(prefix="eduwh-read-", suffix=".arrow", dir=self._dir)
            os.close(fd)
            self._sink = pa.OSFile(self._path, "wb")
            self._writer = pa.ipc.new_file(self._sink, self.schema)
        # One record batch per flush, so batches() hands out tables of about one batch each.
        self._writer.write_table(pa.concat_tables(self._pending).combine_chunks())
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0

    def finish(self) -> ParsedFile:
        if self._writer is None:
            return ParsedFile(self.schema, self.num_rows, self._pending, None)
        self._flush()
        self._close_writer()
        path, self._path = self._path, None
        return ParsedFile(self.schema, self.num_rows, [], path)

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = None

    def discard(self) -> None:
        self._pending = []
        try:
            self._close_writer()
        finally:
            if self._path is not None:
                os.remove(self._path)
                self._path = None


def read_delivered_file(
    source: str,
    file_name: str,
    open_binary: OpenBinary,
    *,
    spool_dir: str | None = None,
    block_size: int = BLOCK_SIZE,
    batch_rows: int = READ_BATCH_ROWS,
    batch_bytes: int = READ_BATCH_BYTES,
    max_value_size: int = MAX_VALUE_SIZE,
) -> ParsedFile:
    """Parse and validate one `source` file ('attendance' or 'assessments') whole, in bounded memory.

    `open_binary()` opens the file for reading in binary; it is called again only to
    locate an error for the message. Raises FileRejected when the file cannot be read
    as its source's format; errors from `open_binary` (a file that disappeared, a
    landing zone that went away) propagate as they are. The spool file goes into
    `spool_dir` (default: the system's temporary folder) and is removed when the
    returned ParsedFile is closed, or at once if the file is rejected.
    """
    spool = _Spool(VALUE_COLUMNS[source], spool_dir, batch_rows, batch_bytes)
    try:
        if source == "attendance":
            _read_attendance_csv(file_name, open_binary, spool, block_size, max_value_size)
        else:
            _read_assessments_json(file_name, open_binary, spool, block_size, max_value_size)
        return spool.finish()
    except BaseException:
        spool.discard()
        raise


# --- bytes and lines ------------------------------------------------------------------------------


class _TooLong(Exception):
    def __init__(self, line: int):
        self.line = line


def _lines(stream: BinaryIO, block_size: int, max_size: int) -> Iterator[bytes]:
    """The lines of a binary stream split on b"\\n" only, without it; _TooLong past `max_size` bytes."""
    carry = b""
    number = 0
    while True:
        block = stream.read(block_size)
        if not block:
            break
        parts = (carry + block).split(b"\n")
        carry = parts.pop()
        number += len(parts)
        if len(carry) > max_size:
            raise _TooLong(number + 1)
        yield from parts
    if carry:
        yield carry


def _megabytes(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 and not size % (1 << 20) else f"{size:,} bytes"


class _CsvInput:
    """What pyarrow reads: the bytes already read past the header, then the rest of the stream.

    No read but the last ends in b"\\r": pyarrow (26.0) drops the "\\n" of a quoted "\\r\\n"
    when a block ends between the two, so a trailing "\\r" is held back for the next read
    (pyarrow takes a short read as a short block, not as the end of the file).
    """

    closed = False

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def _read(self, size: int) -> bytes:
        if not self._head:
            return self._stream.read(size)
        out, self._head = self._head[:size], self._head[size:]
        # A full block unless the stream ends: a short head must not make a short block.
        return out + self._stream.read(size - len(out)) if len(out) < size else out

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out, self._head = self._head + self._stream.read(), b""
            return out
        data = self._read(size)
        # A one-byte read is the file's last byte (reads are topped up to `size`).
        if len(data) > 1 and data.endswith(b"\r"):
            data, self._head = data[:-1], b"\r" + self._head
        return data


# --- attendance CSV -------------------------------------------------------------------------------


def _read_header_line(file_name: str, stream: BinaryIO, block_size: int, max_size: int) -> tuple[bytes, bytes]:
    """The first line (without b"\\n") and the bytes read past it."""
    buf = b""
    while True:
        block = stream.read(block_size)
        if not block:
            return buf, b""
        searched = len(buf)
        buf += block
        end = buf.find(b"\n", searched)
        if end >= 0:
            return buf[:end], buf[end + 1 :]
        if len(buf) > max_size:
            raise FileRejected(f"{file_name}: line 1 (header): no line end within {_megabytes(max_size)}")


def _csv_header(file_name: str, line: bytes) -> list[str]:
    line = line.rstrip(b"\r")
    bom = len(UTF8_BOM) if line.startswith(UTF8_BOM) else 0
    try:
        text = line[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"{file_name}: line 1 (header): not UTF-8 text (byte {bom + exc.start + 1})") from None
    if not text.strip():
        raise FileRejected(f"{file_name}: line 1 (header): empty, expected {','.join(ATTENDANCE_COLUMNS)}")
    return next(csv.reader([text]))


def _first_invalid_text(column: pa.Array) -> int:
    """The index of the first value of a binary column that is not UTF-8."""
    for i, value in enumerate(column.to_pylist()):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return i
    raise AssertionError("every value is UTF-8")


def _read_attendance_csv(file_name: str, open_binary: OpenBinary, spool: _Spool, block_size: int, max_size: int) -> None:
    malformed: list[Any] = []
    bad_text_record: int | None = None  # the data record holding a value that is not UTF-8
    straddling_record: int | None = None  # the data record pyarrow could not fit in a block
    with open_binary() as stream:
        header_line, rest = _read_header_line(file_name, stream, min(block_size, 1 << 16), max_size)
        header = _csv_header(file_name, header_line)
        # Match on the trimmed name, first occurrence; select by position.
        position = {name.strip(): i for i, name in reversed(list(enumerate(header)))}
        missing = [c for c in ATTENDANCE_COLUMNS if c not in position]
        if missing:
            raise FileRejected(
                f"{file_name}: line 1 (header): missing required column(s) {', '.join(missing)}; "
                f"found {','.join(header)}"
            )
        rest = rest or stream.read(block_size)
        if not rest:
            return  # a header and no rows
        # The header is already parsed; pyarrow reads the rest under positional names, so
        # any header name (blank, duplicated, padded) selects exactly the column it heads.
        names = [f"c{i}" for i in range(len(header))]
        wanted = [names[position[c]] for c in ATTENDANCE_COLUMNS]

        def on_invalid_row(row: Any) -> str:
            malformed.append(row)
            return "skip"  # collected; the whole file is rejected below

        rows = 0
        try:
            # open_csv reads and parses the first block already, so it may fail like any block.
            reader = pcsv.open_csv(
                _CsvInput(rest, stream),
                read_options=pcsv.ReadOptions(block_size=block_size, column_names=names),
                parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row),
                convert_options=pcsv.ConvertOptions(
                    include_columns=wanted,
                    # Binary first, so a value that is not UTF-8 can be pinned to its row below.
                    column_types={name: pa.binary() for name in wanted},
                    # Keep empty fields as "" (as received); NULL would lose that the field was present.
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                if not malformed:
                    columns = []
                    for column in batch.columns:
                        try:
                            # A copy of just these values: the parsed column points into the
                            # block's buffer, which holds every field (the ignored ones too).
                            columns.append(pa.concat_arrays([column]).cast(pa.string()))
                        except pa.ArrowInvalid:
                            bad_text_record = rows + _first_invalid_text(column) + 1
                            break
                    if bad_text_record is not None:
                        break
                    spool.add(pa.Table.from_arrays(columns, schema=spool.schema))
                rows += batch.num_rows
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise FileRejected(f"{file_name}: not readable as CSV: {str(exc).splitlines()[0]}") from None
            # The chunker found no row end within a block: every row before it was emitted.
            straddling_record = rows + len(malformed) + 1
        except (pa.ArrowException, ValueError) as exc:
            raise FileRejected(f"{file_name}: not readable as CSV: {str(exc).splitlines()[0]}") from None
    # Only a rejected file is opened again, to say where the problem is.
    if malformed:
        row = malformed[0]
        number = row.number if row.number and row.number > 0 else None
        line = _record_start_line(open_binary, block_size, record=number, field_count=len(header))
        where = f"line {line}" if line else "a row"
        raise FileRejected(
            f"{file_name}: {where}: expected {row.expected_columns} fields, found {row.actual_columns} "
            f"({len(malformed)} malformed row(s) in the file)"
        )
    if bad_text_record is not None:
        line = _record_start_line(open_binary, block_size, record=bad_text_record)
        found = _first_invalid_utf8(open_binary, block_size, max_size, from_line=line or 1)
        if found:
            raise FileRejected(f"{file_name}: line {found[0]}: not UTF-8 text (byte {found[1]})")
        raise FileRejected(f"{file_name}: a row: not UTF-8 text")
    if straddling_record is not None:
        line = _record_start_line(open_binary, block_size, record=straddling_record)
        where = f"line {line}" if line else "a row"
        raise FileRejected(
            f"{file_name}: {where}: the row does not end within {_megabytes(block_size)}; "
            "is a quoted value never closed?"
        )


def _record_start_line(open_binary: OpenBinary, block_size: int, *, record: int | None, field_count: int = 0) -> int | None:
    """The line where data record `record` starts (1-based, blank lines not counted, as pyarrow
    numbers them), or with `record` None, the first record without `field_count` fields."""
    limit = csv.field_size_limit()
    # A record pyarrow accepted fits in one block; csv's default field limit (128 KiB) is smaller.
    csv.field_size_limit(max(limit, block_size))
    try:
        with open_binary() as stream:
            lines = _lines(stream, block_size, block_size)
            next(lines, None)  # the header, line 1
            reader = csv.reader(line.decode("utf-8", "surrogateescape") + "\n" for line in lines)
            seen = 0
            while True:
                start = reader.line_num + 2
                try:
                    fields = next(reader)
                except StopIteration:
                    return None
                except (csv.Error, _TooLong):
                    return start if record == seen + 1 else None
                if not fields:
                    continue
                seen += 1
                if seen == record or (record is None and len(fields) != field_count):
                    return start
    finally:
        csv.field_size_limit(limit)


def _first_invalid_utf8(open_binary: OpenBinary, block_size: int, max_size: int, *, from_line: int) -> tuple[int, int] | None:
    """(line, 1-based byte offset in the file) of the first byte that is not UTF-8 from line `from_line` on."""
    with open_binary() as stream:
        offset = 0
        try:
            for number, line in enumerate(_lines(stream, block_size, max_size), start=1):
                if number >= from_line:
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        return number, offset + exc.start + 1
                offset += len(line) + 1
        except _TooLong:
            return None
    return None


# --- assessment JSON and JSON Lines ---------------------------------------------------------------

# Numbers stay as written (`85.0` stays `85.0`, `1e400` does not become inf).
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, exactly
# A decode that fails or ends this close to the end of the text read so far may only have run
# out of text (`1.` of `1.5`, `\u12` of `\u1234`, `tru` of `true`): read more and decode again.
_REFILL_MARGIN = 32


def _as_text(value: Any) -> str | None:
    """A JSON value as text. Numbers already arrive as their literal text (parse_int/parse_float=str)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _preview(value: Any) -> str:
    text = repr(_as_text(value))
    return text if len(text) <= 80 else text[:77] + "..."


class _Records:
    """JSON values of one file -> Arrow tables of the assessment columns, as text, into the spool."""

    def __init__(self, file_name: str, spool: _Spool, kind: str):
        self.file_name = file_name
        self.spool = spool
        self.kind = kind  # how a value's place is named: "line" (JSON Lines) or "element" (JSON array)
        self.problem: str | None = None  # the first value that is not an object
        self._columns: dict[str, list[str | None]] = {c: [] for c in ASSESSMENT_COLUMNS}
        self._numbers: list[int] = []  # the line / element of each row, to name one that is not text
        self._size = 0

    def add(self, value: Any, size: int, number: int) -> None:
        if not isinstance(value, dict):
            if self.problem is None:
                self.problem = f"{self.file_name}: {self.kind} {number}: expected a JSON object, found {_preview(value)}"
            return
        if self.problem is not None:
            return  # the file is rejected; parsing goes on only to report a syntax error first
        for column, values in self._columns.items():
            values.append(_as_text(value.get(column)))
        self._numbers.append(number)
        self._size += size
        if len(self._numbers) >= self.spool.batch_rows or self._size >= self.spool.batch_bytes:
            self.flush()

    def flush(self) -> None:
        if self._numbers:
            try:
                arrays = [pa.array(values, pa.string()) for values in self._columns.values()]
            except UnicodeEncodeError:
                raise FileRejected(self._not_text()) from None
            self.spool.add(pa.Table.from_arrays(arrays, schema=self.spool.schema))
        self._columns = {c: [] for c in ASSESSMENT_COLUMNS}
        self._numbers = []
        self._size = 0

    def _not_text(self) -> str:
        # json decodes an escaped lone surrogate ("\\ud800") to a str that no UTF-8 text can hold.
        for i, number in enumerate(self._numbers):
            for column, values in self._columns.items():
                value = values[i]
                try:
                    value is None or value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    escape = f"\\u{ord(value[exc.start]):04x}"
                    return (
                        f"{self.file_name}: {self.kind} {number}: {column} holds an unpaired surrogate "
                        f"{escape}, which is not text"
                    )
        raise AssertionError("every value is text")

    def finish(self) -> None:
        if self.problem is not None:
            raise FileRejected(self.problem)
        self.flush()


def _read_assessments_json(file_name: str, open_binary: OpenBinary, spool: _Spool, block_size: int, max_size: int) -> None:
    lines = file_name.endswith(".jsonl")
    records = _Records(file_name, spool, "line" if lines else "element")
    with open_binary() as stream:
        if lines:
            _json_lines(file_name, stream, records, block_size, max_size)
        else:
            _JsonArray(file_name, stream, records, block_size, max_size).parse()
    records.finish()


def _json_lines(file_name: str, stream: BinaryIO, records: _Records, block_size: int, max_size: int) -> None:
    offset = 0  # of the line in the file, for the byte of a UTF-8 error
    number = 0
    try:
        for number, raw in enumerate(_lines(stream, block_size, max_size), start=1):
            bom = len(UTF8_BOM) if number == 1 and raw.startswith(UTF8_BOM) else 0
            try:
                line = (raw[bom:] if bom else raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileRejected(f"{file_name}: line {number}: not UTF-8 text (byte {offset + bom + exc.start + 1})") from None
            offset += len(raw) + 1
            if not line.strip():
                continue
            try:
                value = _DECODER.decode(line)
            except json.JSONDecodeError as exc:
                raise FileRejected(f"{file_name}: invalid JSON at line {number}, column {exc.colno}: {exc.msg}") from None
            records.add(value, len(raw), number)
    except _TooLong as exc:
        raise FileRejected(f"{file_name}: line {exc.line}: longer than {_megabytes(max_size)}") from None


class _TooLarge(Exception):
    pass


def _utf8_boundary(data: bytes) -> int:
    """The length of the longest prefix of `data` that does not end inside a UTF-8 sequence."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: its lead byte is further back
            continue
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if back < length else len(data)
        return len(data)
    return len(data)  # not UTF-8 at all; the decoder says where


class _JsonArray:
    """A JSON array of values parsed one element at a time from a sliding window of text.

    Each element is decoded by json's own scanner (`raw_decode`) and the array's
    punctuation is checked here, so errors carry the message and position that
    `json.loads` of the whole text gives. Text before `mark` (the earliest position
    still needed) is dropped whenever more is read; from `mark` on, at most
    `max_size` characters are held.
    """

    def __init__(self, file_name: str, stream: BinaryIO, records: _Records, block_size: int, max_size: int):
        self.file_name = file_name
        self.records = records
        self._stream = stream
        self._block_size = block_size
        self._max_size = max_size
        self.buf = ""
        self.pos = 0
        self.mark = 0
        self.eof = False
        self._line = 1  # line of buf[0]
        self._col0 = 0  # characters before buf[0] on its line
        self._pending = b""  # bytes read that end inside a UTF-8 sequence
        self._offset = 0  # file offset of _pending[0]
        self._newlines = 0  # b"\n" in the file before _offset
        self._started = False
        self.elements = 0
        self.what = "the document"  # what is being read, for an error

    # text -------------------------------------------------------------------------------------

    def _decode_next(self) -> str:
        data = self._stream.read(self._block_size)
        if not data:
            self.eof = True
        data = self._pending + data
        if not self._started:
            if len(data) < len(UTF8_BOM) and not self.eof:
                self._pending = data
                return ""
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM) :]
                self._offset += len(UTF8_BOM)
            self._started = True
        cut = len(data) if self.eof else _utf8_boundary(data)
        try:
            text = str(memoryview(data)[:cut], "utf-8")
        except UnicodeDecodeError as exc:
            line = self._newlines + data.count(b"\n", 0, exc.start) + 1
            raise FileRejected(f"{self.file_name}: line {line}: not UTF-8 text (byte {self._offset + exc.start + 1})") from None
        self._newlines += data.count(b"\n", 0, cut)
        self._offset += cut
        self._pending = data[cut:]
        return text

    def fill(self) -> bool:
        """Drop the text before `mark`, then append the next block of text; False at the end."""
        if self.mark:
            dropped = self.mark
            newlines = self.buf.count("\n", 0, dropped)
            if newlines:
                self._line += newlines
                self._col0 = dropped - self.buf.rfind("\n", 0, dropped) - 1
            else:
                self._col0 += dropped
            self.buf = self.buf[dropped:]
            self.pos -= dropped
            self.mark = 0
        while not self.eof:
            text = self._decode_next()
            if text:
                self.buf += text
                if len(self.buf) > self._max_size:
                    raise _TooLarge
                return True
        return False

    def where(self, p: int) -> tuple[int, int]:
        """(line, column) of buf[p], counted as json does: 1-based, the column in characters."""
        newlines = self.buf.count("\n", 0, p)
        if newlines:
            return self._line + newlines, p - self.buf.rfind("\n", 0, p)
        return self._line, self._col0 + p + 1

    def fail(self, p: int, message: str) -> None:
        line, column = self.where(p)
        raise FileRejected(f"{self.file_name}: invalid JSON at line {line}, column {column}: {message}")

    def skip_whitespace(self, *, keep_mark: bool = False) -> None:
        """Move past whitespace, reading more as needed; at the end of the text only at EOF."""
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or self.eof:
                return
            if not keep_mark:
                self.mark = self.pos  # whitespace is not needed again: any amount of it is fine
            if not self.fill():
                return

    def peek(self) -> str | None:
        return self.buf[self.pos] if self.pos < len(self.buf) else None

    def decode_value(self) -> tuple[Any, int]:
        """The JSON value at `pos`, and its length in characters."""
        self.mark = self.pos
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # "Unterminated string" points at the string's start, however far the text ran.
                short = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - _REFILL_MARGIN
                if short and not self.eof:
                    self.fill()
                    continue
                self.fail(exc.pos, exc.msg)
            if end > len(self.buf) - _REFILL_MARGIN and not self.eof:
                self.fill()  # a number (or literal) may go on in the next block
                continue
            self.pos = end
            return value, end - self.mark  # the mark is still the element's start, shifted by any fill

    def array_error(self, between: str, at: list[int]) -> None:
        """Fail as json fails on an array whose first element is followed by `between`.

        The message (and, for a trailing comma, the position) differs between Python
        versions, so it is json's own: `at[i]` is where between[i] stands in the text.
        """
        try:
            json.loads("[null" + between)
        except json.JSONDecodeError as exc:
            index = exc.pos - len("[null")
            self.fail(at[min(max(index, 0), len(at) - 1)], exc.msg)
        raise AssertionError(f"json accepted [null{between}")

    # the document -----------------------------------------------------------------------------

    def parse(self) -> None:
        try:
            self._parse()
        except _TooLarge:
            line, column = self.where(self.mark)
            raise FileRejected(
                f"{self.file_name}: {self.what} at line {line}, column {column} is longer than "
                f"{_megabytes(self._max_size)}"
            ) from None

    def _parse(self) -> None:
        self.skip_whitespace()
        if self.peek() is None:
            self.fail(self.pos, "Expecting value")
        if self.peek() != "[":
            value, _ = self.decode_value()
            line, _ = self.where(self.mark)
            self.skip_whitespace()
            if self.peek() is not None:
                self.fail(self.pos, "Extra data")
            kind = "an object" if isinstance(value, dict) else f"{_preview(value)}"
            raise FileRejected(f"{self.file_name}: line {line}: expected a JSON array of objects, found {kind}")
        self.pos += 1
        self.skip_whitespace()
        if self.peek() != "]":
            while True:
                self.what = f"element {self.elements + 1}"
                value, size = self.decode_value()
                self.elements += 1
                self.records.add(value, size, self.elements)
                self.skip_whitespace()
                char = self.peek()
                if char == "]":
                    break
                if char != ",":
                    self.array_error(char or "", [self.pos])
                self.mark = self.pos  # the comma, kept for a trailing-comma error
                self.pos += 1
                self.skip_whitespace(keep_mark=True)
                if self.peek() == "]":
                    self.array_error(",]", [self.mark, self.pos])
        self.pos += 1
        self.skip_whitespace()
        if self.peek() is not None:
            self.fail(self.pos, "Extra data")
