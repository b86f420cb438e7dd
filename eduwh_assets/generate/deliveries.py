"""What a delivery is, and what its attendance and assessment builders share.

Both builders hold rows as frames of codes (see row_frames). Each row has a
`file` it goes to and a `position` that orders it inside that file, so extra
rows (unknown students, duplicates, restatements) are slotted in before
anything is rendered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import pyarrow as pa

from eduwh_assets.generate.arrow_text import LARGE_STRING
from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.random_draws import injected_count
from eduwh_assets.generate.row_frames import Frame, pick_rows, row_count, stack_frames

if TYPE_CHECKING:
    from eduwh_assets.generate.dataset import Dataset


@dataclass
class GeneratedFile:
    name: str
    source: str  # "attendance" or "assessments"
    data: bytes
    rows: int


@dataclass
class GeneratedDelivery:
    code: str
    files: list[GeneratedFile]
    # What was injected, per source: kind -> rows (before deduplication).
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    def manifest(self) -> dict:
        return {"delivery_code": self.code, "files": {f.name: {"rows": f.rows} for f in self.files}}

    def manifest_bytes(self) -> bytes:
        return (json.dumps(self.manifest(), indent=2) + "\n").encode()


class DeliveryContext:
    """The data set as both builders see it: its students' traits and the vocabularies of written dates."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.cfg = dataset.config
        self.traits = dataset._traits
        days = dataset.school_days
        self.n_days = len(days)
        self.compact_dates = pa.array([day.strftime("%Y%m%d") for day in days], LARGE_STRING)
        # Date codes: ISO dates, then the same days written day-first, then fixed bad values.
        fixed_bad_dates = [
            f"{days[-1].year}-02-30", "", f"{days[0].year}-13-01", f"{days[0].year}-09-31", "not recorded",
        ]
        self.date_vocabulary = pa.array(
            [day.isoformat() for day in days] + [day.strftime("%d/%m/%Y") for day in days] + fixed_bad_dates,
            LARGE_STRING,
        )
        self.first_fixed_bad_date = 2 * self.n_days
        self.n_fixed_bad_dates = len(fixed_bad_dates)
        self.n_unknown_students = len(dataset.unknown_student_ids)
        row_of = {sid: i for i, sid in enumerate(dataset.students["student_id"])}
        self.late_student_codes = np.array([row_of[sid] for sid in dataset.late_student_ids], dtype=np.int64)

    def bad_date_codes(self, rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
        """Half written day-first (19/09/2025), half from the fixed list (impossible, empty, junk)."""
        day_first = rng.random(len(day)) < 0.5
        fixed = self.first_fixed_bad_date + rng.integers(0, self.n_fixed_bad_dates, len(day))
        return np.where(day_first, self.n_days + day, fixed)

    def late_student_rows(self, rows: Frame) -> int:
        return int(np.isin(rows["student"], self.late_student_codes).sum())


def problem_rows(
    rng: np.random.Generator, n_rows: int, counts: dict[str, int]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Disjoint sorted sets of rows, one per kind of problem with its count, and the mask of every row picked."""
    shuffled = rng.permutation(n_rows)
    picked: dict[str, np.ndarray] = {}
    taken = 0
    for kind, count in counts.items():
        picked[kind] = np.sort(shuffled[taken : taken + count])
        taken += count
    touched = np.zeros(n_rows, bool)
    touched[shuffled[:taken]] = True
    return picked, touched


def file_lengths(rows: Frame, n_files: int) -> np.ndarray:
    return np.bincount(rows["file"], minlength=n_files).astype(np.float64)


def place_anywhere(rng: np.random.Generator, rows: Frame, lengths: np.ndarray) -> None:
    """Give the rows a random position in their file."""
    rows["position"] = rng.random(row_count(rows)) * lengths[rows["file"]]


def place_later(rng: np.random.Generator, rows: Frame, lengths: np.ndarray) -> None:
    """Move the rows to a random position after where they are now in their file, as duplicates come later."""
    rows["position"] = rows["position"] + 0.5 + rng.random(row_count(rows)) * (
        lengths[rows["file"]] - rows["position"] - 0.5
    )


def rows_per_file(rows: Frame, n_files: int) -> list[np.ndarray]:
    """For each file, its rows' positions in `rows`, in the order they are written."""
    order = np.lexsort((rows["position"], rows["file"]))
    files = rows["file"][order]
    bounds = np.searchsorted(files, np.arange(n_files + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n_files)]


RowChange = Callable[[np.random.Generator, Frame], Frame]


class RestatementPool:
    """Rows of earlier deliveries a later one may send again: fixed, broken or just changed.

    It holds the rows that were sent bad, with their corrected values, and a
    sample of rows that were sent good.
    """

    def __init__(self, cfg: GeneratorConfig):
        self.cfg = cfg
        self.rows: dict[str, Frame] = {"fixable": {}, "good": {}}

    def _per_kind(self, n_rows: int) -> int:
        return injected_count(self.cfg.restatement_share / 3, n_rows, self.cfg.min_injected)

    def restate(
        self, rng: np.random.Generator, n_rows: int, break_rows: RowChange, change_rows: RowChange
    ) -> tuple[Frame, dict[str, int]]:
        """Rows to send again in a delivery of `n_rows` rows, each taken out of the pool, and how many of each kind."""
        wanted = self._per_kind(n_rows)
        restated: list[Frame] = []
        stats = {"restated_fix": 0, "restated_break": 0, "restated_change": 0}

        def sent_as_corrected(rng: np.random.Generator, rows: Frame) -> Frame:
            return rows

        for pool, how, kind in (
            ("fixable", sent_as_corrected, "restated_fix"),
            ("good", break_rows, "restated_break"),
            ("good", change_rows, "restated_change"),
        ):
            available = row_count(self.rows[pool])
            taken = min(wanted, available)
            if taken == 0:
                continue
            chosen = rng.choice(available, size=taken, replace=False)
            restated.append(how(rng, pick_rows(self.rows[pool], chosen)))
            kept = np.ones(available, bool)
            kept[chosen] = False
            self.rows[pool] = pick_rows(self.rows[pool], kept)
            stats[kind] = taken
        return stack_frames(restated), stats

    def remember(self, rng: np.random.Generator, fixable: Frame, good: Frame, n_rows: int) -> None:
        """Keep this delivery's bad rows (as corrected) and enough good rows for later breaks and changes."""
        self.rows["fixable"] = stack_frames([self.rows["fixable"], fixable])
        wanted = min(row_count(good), 4 * self._per_kind(n_rows))
        chosen = rng.choice(row_count(good), size=wanted, replace=False) if wanted else np.array([], np.int64)
        self.rows["good"] = stack_frames([self.rows["good"], pick_rows(good, np.sort(chosen))])
