"""The rows of a file being parsed, spooled to a local Arrow IPC file, and the ParsedFile that reads them back."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Self

import pyarrow as pa

# Rows per Arrow table in the spool and out of ParsedFile.batches() (~5 MB of attendance values).
READ_BATCH_ROWS = 100_000
# ...or fewer, so a batch of long values stays small too.
READ_BATCH_BYTES = 64 << 20


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


class Spool:
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
