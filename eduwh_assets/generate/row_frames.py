"""Rows held as a frame: equal-length numpy arrays by column name, cheap to pick from and stack.

A row's values stay small integer codes (into a student, date or status
vocabulary) until its file is rendered, so injecting problems, duplicating and
restating rows are array operations even at ten million rows.
"""

from __future__ import annotations

import numpy as np

Frame = dict[str, np.ndarray]


def stack_frames(frames: list[Frame]) -> Frame:
    """The rows of every non-empty frame, in order; columns as in the first."""
    frames = [frame for frame in frames if row_count(frame)]
    if not frames:
        return {}
    return {column: np.concatenate([frame[column] for frame in frames]) for column in frames[0]}


def pick_rows(frame: Frame, rows: np.ndarray) -> Frame:
    """The rows at these positions (or where this mask is true)."""
    return {column: values[rows] for column, values in frame.items()}


def row_count(frame: Frame) -> int:
    return len(next(iter(frame.values()))) if frame else 0
