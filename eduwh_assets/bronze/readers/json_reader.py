"""Assessment JSON (an array of objects) and JSON Lines -> the assessment columns as text."""

from __future__ import annotations

import json
from typing import BinaryIO

from eduwh_assets.bronze.readers.file_input import (
    UTF8_BOM,
    FileRejected,
    LineTooLong,
    OpenBinary,
    readable_size,
    split_lines,
)
from eduwh_assets.bronze.readers.json_array import JsonArrayParser
from eduwh_assets.bronze.readers.json_records import LITERAL_DECODER, AssessmentRecords
from eduwh_assets.bronze.readers.spool import Spool


def read_assessments_json(file_name: str, open_binary: OpenBinary, spool: Spool, block_size: int, max_size: int) -> None:
    lines = file_name.endswith(".jsonl")
    records = AssessmentRecords(file_name, spool, "line" if lines else "element")
    with open_binary() as stream:
        if lines:
            _json_lines(file_name, stream, records, block_size, max_size)
        else:
            JsonArrayParser(file_name, stream, records, block_size, max_size).parse()
    records.finish()


def _json_lines(file_name: str, stream: BinaryIO, records: AssessmentRecords, block_size: int, max_size: int) -> None:
    offset = 0  # of the line in the file, for the byte of a UTF-8 error
    number = 0
    try:
        for number, raw in enumerate(split_lines(stream, block_size, max_size), start=1):
            bom = len(UTF8_BOM) if number == 1 and raw.startswith(UTF8_BOM) else 0
            try:
                line = (raw[bom:] if bom else raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileRejected(f"{file_name}: line {number}: not UTF-8 text (byte {offset + bom + exc.start + 1})") from None
            offset += len(raw) + 1
            if not line.strip():
                continue
            try:
                value = LITERAL_DECODER.decode(line)
            except json.JSONDecodeError as exc:
                raise FileRejected(f"{file_name}: invalid JSON at line {number}, column {exc.colno}: {exc.msg}") from None
            records.add(value, len(raw), number)
    except LineTooLong as exc:
        raise FileRejected(f"{file_name}: line {exc.line}: longer than {readable_size(max_size)}") from None
