"""Building delivery text with Arrow compute: one array of lines per file, no Python string per row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# 64-bit offsets: a file's lines joined can pass the 2 GiB a plain string array holds.
LARGE_STRING = pa.large_string()


def text_scalar(value: str) -> pa.Scalar:
    return pa.scalar(value, LARGE_STRING)


def concat_text(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literal strings."""
    return pc.binary_join_element_wise(
        *[text_scalar(part) if isinstance(part, str) else part for part in parts], text_scalar("")
    )


def joined_bytes(lines: pa.Array, separator: str) -> bytes:
    """`separator.join(lines)` as bytes, cut straight from the array's contiguous value buffer."""
    if len(lines) == 0:
        return b""
    terminated = concat_text(lines, separator).cast(LARGE_STRING)
    if isinstance(terminated, pa.ChunkedArray):
        terminated = terminated.combine_chunks()
    start = terminated.offset
    offsets = np.frombuffer(terminated.buffers()[1], dtype=np.int64)[start : start + len(terminated) + 1]
    data = memoryview(terminated.buffers()[2])[offsets[0] : offsets[-1]]
    return bytes(data[: len(data) - len(separator.encode())])


def positions(codes: np.ndarray) -> pa.Array:
    """Codes as an Arrow int64 array, the form `Array.take` wants for picking from a vocabulary."""
    return pa.array(np.asarray(codes, dtype=np.int64))


def number_text(values: np.ndarray, as_float: np.ndarray) -> pa.Array:
    """Scores as JSON number literals: whole numbers as `45` or `45.0`, halves as `37.5`."""
    whole = np.trunc(values)
    fraction = values - whole
    integers = pa.array(whole.astype(np.int64)).cast(LARGE_STRING)
    suffix = np.where(fraction != 0, ".5", np.where(as_float, ".0", ""))
    return concat_text(integers, pa.array(suffix, LARGE_STRING))
