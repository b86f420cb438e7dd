"""Attendance CSV -> its value columns as text, through pyarrow's streaming reader.

The header is read here and the rest is handed to `pyarrow.csv.open_csv` under
positional names. A rejected file is opened again, only to find the line of the
malformed row, the row that is not UTF-8, or the row that does not fit a block.
"""

from __future__ import annotations

import csv
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pcsv

from eduwh_assets.bronze.readers.columns import ATTENDANCE_COLUMNS
from eduwh_assets.bronze.readers.file_input import (
    UTF8_BOM,
    FileRejected,
    LineTooLong,
    OpenBinary,
    readable_size,
    split_lines,
)
from eduwh_assets.bronze.readers.spool import Spool


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
            raise FileRejected(f"{file_name}: line 1 (header): no line end within {readable_size(max_size)}")


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


def read_attendance_csv(file_name: str, open_binary: OpenBinary, spool: Spool, block_size: int, max_size: int) -> None:
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
            f"{file_name}: {where}: the row does not end within {readable_size(block_size)}; "
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
            lines = split_lines(stream, block_size, block_size)
            next(lines, None)  # the header, line 1
            reader = csv.reader(line.decode("utf-8", "surrogateescape") + "\n" for line in lines)
            seen = 0
            while True:
                start = reader.line_num + 2
                try:
                    fields = next(reader)
                except StopIteration:
                    return None
                except (csv.Error, LineTooLong):
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
            for number, line in enumerate(split_lines(stream, block_size, max_size), start=1):
                if number >= from_line:
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        return number, offset + exc.start + 1
                offset += len(line) + 1
        except LineTooLong:
            return None
    return None
