"""Delivered files -> their value columns as text, read in bounded blocks.

    with read_delivered_file("attendance", name, lambda: zone.open_file(path)) as parsed:
        parsed.num_rows              # every row of the file, known before any is handed out
        for table in parsed.batches():
            ...                      # pa.Table of VALUE_COLUMNS[source], all pa.string()

`read_delivered_file` parses and validates the whole file before it returns, so
a broken file raises FileRejected and none of its rows is ever handed on. Peak
memory does not grow with the file: it is read a block at a time
(`pyarrow.csv.open_csv` for CSV, line by line for JSON Lines, the complete
elements of each block at once for JSON arrays), and the parsed rows are spooled to a local Arrow IPC file,
which `batches()` reads back one batch at a time once the file has parsed
cleanly. A file that fits in one batch stays in memory and is never spooled.
Closing the ParsedFile removes the spool.

Values are kept as text exactly as received; judging them is silver's job:
- CSV (csv_reader.py): the header is the first line; columns are matched on their trimmed
  names, extra columns are ignored, a UTF-8 BOM is accepted, empty fields stay
  "" and quoted values may hold newlines. A row with the wrong number of fields
  rejects the whole file, naming its line.
- JSON (json_reader.py, json_array.py, json_records.py): numbers keep their literal text
  (`85.0`, `1e400`), booleans become `true` / `false`, nested values compact JSON text, an
  absent field NULL. `.jsonl` is split on "\\n" only (never U+2028) and blank lines are
  skipped; `.json` must be an array of objects.
Every FileRejected message starts with the file name and says where: the line
(and for JSON syntax errors the column, as `json.loads` of the whole text would
report it), and for text that is not UTF-8 the byte offset in the file.
"""

from __future__ import annotations

from eduwh_assets.bronze.readers.columns import VALUE_COLUMNS
from eduwh_assets.bronze.readers.csv_reader import read_attendance_csv
from eduwh_assets.bronze.readers.file_input import OpenBinary
from eduwh_assets.bronze.readers.json_reader import read_assessments_json
from eduwh_assets.bronze.readers.spool import READ_BATCH_BYTES, READ_BATCH_ROWS, ParsedFile, Spool

# Bytes read from the landing zone at a time, and the longest CSV row accepted. pyarrow's CSV
# reader reads up to ~32 blocks ahead on a background thread, so this stays at 1 MiB.
BLOCK_SIZE = 1 << 20
# The longest single JSON element, JSON line or CSV header accepted: an unclosed string or
# bracket would otherwise have the reader buffer the rest of the file.
MAX_VALUE_SIZE = 64 << 20


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
    spool = Spool(VALUE_COLUMNS[source], spool_dir, batch_rows, batch_bytes)
    try:
        if source == "attendance":
            read_attendance_csv(file_name, open_binary, spool, block_size, max_value_size)
        else:
            read_assessments_json(file_name, open_binary, spool, block_size, max_value_size)
        return spool.finish()
    except BaseException:
        spool.discard()
        raise
