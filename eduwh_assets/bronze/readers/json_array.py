"""A JSON array parsed a block at a time, so memory holds a block and one element, not the file."""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO

from eduwh_assets.bronze.readers.file_input import UTF8_BOM, FileRejected, readable_size
from eduwh_assets.bronze.readers.json_records import LITERAL_DECODER, AssessmentRecords, value_preview

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, exactly
# A decode that fails or ends this close to the end of the text read so far may only have run
# out of text (`1.` of `1.5`, `\u12` of `\u1234`, `tru` of `true`): read more and decode again.
_REFILL_MARGIN = 32


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


class JsonArrayParser:
    """A JSON array of values parsed from a sliding window of text.

    The complete elements in the window are decoded together (`decode_run`);
    where that fails, one element at a time by json's own scanner (`raw_decode`),
    with the array's punctuation checked here, so errors carry the message and
    position that `json.loads` of the whole text gives. Text before `mark` (the earliest position
    still needed) is dropped whenever more is read; from `mark` on, at most
    `max_size` characters are held.
    """

    def __init__(self, file_name: str, stream: BinaryIO, records: AssessmentRecords, block_size: int, max_size: int):
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
        self._runs = True  # False from a failed decode_run until more text is read

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
        self._runs = True
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
                value, end = LITERAL_DECODER.raw_decode(self.buf, self.pos)
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

    def decode_run(self) -> list[tuple[Any, int]]:
        """The elements from `pos` up to the last "}" read so far, in one decode; [] if they are not that.

        Decoding "[" + text + "]" succeeds only when the text is whole elements
        separated by commas: a cut inside a string or a nested value leaves a
        string or bracket open. The last element is an object (it ends with
        "}"), so no number or literal can go on past the cut. On failure the
        elements are read one at a time (decode_value), which reports any error
        where json reports it, until more text is read.
        """
        if not self._runs:
            return []
        cut = self.buf.rfind("}", self.pos) + 1
        if cut == 0:
            return []
        try:
            values = LITERAL_DECODER.decode("[" + self.buf[self.pos : cut] + "]")
        except json.JSONDecodeError:
            self._runs = False
            return []
        if not values:
            return []
        size = (cut - self.pos) // len(values)  # per element, near enough for the spool's batch sizes
        self.pos = self.mark = cut
        return [(value, size) for value in values]

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
                f"{readable_size(self._max_size)}"
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
            kind = "an object" if isinstance(value, dict) else f"{value_preview(value)}"
            raise FileRejected(f"{self.file_name}: line {line}: expected a JSON array of objects, found {kind}")
        self.pos += 1
        self.skip_whitespace()
        if self.peek() != "]":
            while True:
                self.what = f"element {self.elements + 1}"
                for value, size in self.decode_run() or [self.decode_value()]:
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
