"""Decoded JSON values -> rows of the assessment columns as text, batched into the spool."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from eduwh_assets.bronze.readers.columns import ASSESSMENT_COLUMNS
from eduwh_assets.bronze.readers.file_input import FileRejected
from eduwh_assets.bronze.readers.spool import Spool

_TEXT_TYPES = {str, type(None)}  # fields stored as they are: text and absent
# Numbers stay as written (`85.0` stays `85.0`, `1e400` does not become inf).
LITERAL_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


def json_text(value: Any) -> str | None:
    """A JSON value as text. Numbers already arrive as their literal text (parse_int/parse_float=str)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def value_preview(value: Any) -> str:
    text = repr(json_text(value))
    return text if len(text) <= 80 else text[:77] + "..."


class AssessmentRecords:
    """JSON values of one file -> Arrow tables of the assessment columns, as text, into the spool."""

    def __init__(self, file_name: str, spool: Spool, kind: str):
        self.file_name = file_name
        self.spool = spool
        self.kind = kind  # how a value's place is named: "line" (JSON Lines) or "element" (JSON array)
        self.problem: str | None = None  # the first value that is not an object
        self._objects: list[dict] = []  # the objects of the batch being collected
        self._numbers: list[int] = []  # the line / element of each object, to name one that is not text
        self._size = 0

    def add(self, value: Any, size: int, number: int) -> None:
        if not isinstance(value, dict):
            if self.problem is None:
                self.problem = f"{self.file_name}: {self.kind} {number}: expected a JSON object, found {value_preview(value)}"
            return
        if self.problem is not None:
            return  # the file is rejected; parsing goes on only to report a syntax error first
        self._objects.append(value)
        self._numbers.append(number)
        self._size += size
        if len(self._numbers) >= self.spool.batch_rows or self._size >= self.spool.batch_bytes:
            self.flush()

    def flush(self) -> None:
        if self._numbers:
            columns = {c: self._column(c) for c in ASSESSMENT_COLUMNS}
            try:
                arrays = [pa.array(values, pa.string()) for values in columns.values()]
            except UnicodeEncodeError:
                raise FileRejected(self._not_text(columns)) from None
            self.spool.add(pa.Table.from_arrays(arrays, schema=self.spool.schema))
        self._objects = []
        self._numbers = []
        self._size = 0

    def _column(self, column: str) -> list[str | None]:
        values = [obj.get(column) for obj in self._objects]
        # Text, and numbers (decoded as their text), are nearly every field; the rest is rare.
        if set(map(type, values)) <= _TEXT_TYPES:
            return values
        return [json_text(value) for value in values]

    def _not_text(self, columns: dict[str, list[str | None]]) -> str:
        # json decodes an escaped lone surrogate ("\\ud800") to a str that no UTF-8 text can hold.
        for i, number in enumerate(self._numbers):
            for column, values in columns.items():
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
