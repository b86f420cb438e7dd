"""What both readers share: how a delivered file is opened, how it is rejected, its bytes as lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

UTF8_BOM = b"\xef\xbb\xbf"

OpenBinary = Callable[[], BinaryIO]


class FileRejected(ValueError):
    """One delivered file cannot be read. The message starts with the file name and says where."""


class LineTooLong(Exception):
    def __init__(self, line: int):
        self.line = line


def split_lines(stream: BinaryIO, block_size: int, max_size: int) -> Iterator[bytes]:
    """The lines of a binary stream split on b"\\n" only, without it; LineTooLong past `max_size` bytes."""
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
            raise LineTooLong(number + 1)
        yield from parts
    if carry:
        yield carry


def readable_size(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 and not size % (1 << 20) else f"{size:,} bytes"
