"""A small markdown table for the Dagster UI, with no extra dependency."""

from __future__ import annotations

import numpy as np
import pandas as pd


def to_markdown(frame: pd.DataFrame, max_width: int = 60) -> str:
    """A small markdown table for the Dagster UI (no extra dependency)."""

    def cell(value) -> str:
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
