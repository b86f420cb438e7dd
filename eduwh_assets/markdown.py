"""The one markdown table renderer, for metadata the Dagster UI shows (previews, samples, per-delivery figures)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

CELL_CHARS = 60


def markdown_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, null: str = "", cell_chars: int = CELL_CHARS
) -> str:
    """A markdown table; a missing value reads `null`, and a long value is cut to `cell_chars` with an ellipsis."""

    def cell(value: Any) -> str:
        missing = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
        text = null if missing else str(value).replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= cell_chars else text[: cell_chars - 1] + "…"

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_table(frame: pd.DataFrame) -> str:
    """`markdown_table` of a DataFrame's columns and rows."""
    return markdown_table([str(c) for c in frame.columns], list(frame.itertuples(index=False)))
