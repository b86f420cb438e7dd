"""The logical dtypes of the contracts, and how a DuckDB result gets them.

The dtypes are the pandas dtypes a table has after `frame_from_arrow` has read
it from DuckDB: every integer width becomes nullable `Int64`, every float or
decimal becomes `float64`, booleans become nullable `boolean`, dates
`datetime64[ms]` and timestamps with a zone `datetime64[us, UTC]`. That keeps
the contracts about what a value is rather than which integer width dbt chose;
`logical_type` names the same classes for DuckDB's column types.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa_arrow

TEXT = str
INT = "Int64"
FLOAT = "float64"
BOOL = "boolean"
DATE = "datetime64[ms]"
TIMESTAMPTZ = pd.DatetimeTZDtype(unit="us", tz="UTC")

# The logical dtypes by name, for `logical_type` and the dtype rule of the SQL checks.
LOGICAL_DTYPES = {"TEXT": TEXT, "INT": INT, "FLOAT": FLOAT, "BOOL": BOOL, "DATE": DATE, "TIMESTAMPTZ": TIMESTAMPTZ}


def _normalise_type(dtype: pa_arrow.DataType) -> pa_arrow.DataType | None:
    """The arrow type a column is cast to before pandas, or None to keep it."""
    if pa_arrow.types.is_integer(dtype):
        return pa_arrow.int64()
    if pa_arrow.types.is_decimal(dtype):
        # DuckDB's SUM over integers is HUGEINT (decimal(38,0) in arrow): still a count.
        return pa_arrow.int64() if dtype.scale == 0 else pa_arrow.float64()
    if pa_arrow.types.is_floating(dtype):
        return pa_arrow.float64()
    if pa_arrow.types.is_date(dtype):
        return pa_arrow.date32()
    if pa_arrow.types.is_timestamp(dtype):
        return pa_arrow.timestamp("us", tz="UTC") if dtype.tz else pa_arrow.timestamp("us")
    if pa_arrow.types.is_large_string(dtype) or pa_arrow.types.is_string_view(dtype):
        return pa_arrow.string()
    return None


_PANDAS_TYPES = {pa_arrow.int64(): pd.Int64Dtype(), pa_arrow.bool_(): pd.BooleanDtype()}

_DUCKDB_INTEGERS = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}


def logical_type(duckdb_type: str) -> str | None:
    """The LOGICAL_DTYPES name a DuckDB column type has once read into pandas, or None for any other type.

    The DuckDB side of `_normalise_type`: the two must class every type alike
    (a test holds them to it), so a SQL check of column types judges a table
    as Pandera would judge the frame `frame_from_arrow` makes of it.
    """
    name = duckdb_type.upper()
    if name in _DUCKDB_INTEGERS:
        return "INT"
    if name.startswith("DECIMAL("):
        # SUM over integers is HUGEINT or DECIMAL(38,0): still a count.
        return "INT" if name.rstrip(")").split(",")[1].strip() == "0" else "FLOAT"
    return {
        "FLOAT": "FLOAT",
        "DOUBLE": "FLOAT",
        "BOOLEAN": "BOOL",
        "DATE": "DATE",
        "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
        "VARCHAR": "TEXT",
    }.get(name)


def frame_from_arrow(data: pa_arrow.RecordBatch | pa_arrow.Table) -> pd.DataFrame:
    """A DuckDB result in the pandas dtypes the contracts expect (see the module docstring)."""
    table = pa_arrow.Table.from_batches([data]) if isinstance(data, pa_arrow.RecordBatch) else data
    target = [
        pa_arrow.field(f.name, _normalise_type(f.type) or f.type, nullable=True) for f in table.schema
    ]
    table = table.cast(pa_arrow.schema(target))
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get, date_as_object=False)
