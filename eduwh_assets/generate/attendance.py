"""Each delivery's attendance registers: CSV files, one row per student per school day, with injected problems."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eduwh_assets.generate.arrow_text import LARGE_STRING, concat_text, joined_bytes, positions, text_scalar
from eduwh_assets.generate.deliveries import (
    DeliveryContext,
    GeneratedFile,
    RestatementPool,
    file_lengths,
    place_anywhere,
    place_later,
    problem_rows,
    rows_per_file,
)
from eduwh_assets.generate.random_draws import ATTENDANCE, LAYOUT, injected_count, random_stream
from eduwh_assets.generate.row_frames import Frame, pick_rows, row_count, stack_frames
from eduwh_assets.rules import ATTENDANCE_STATUSES

ATTENDANCE_HEADER = ("attendance_id", "student_id", "session_date", "status")

# Status codes: the clean values in ATTENDANCE_STATUSES order, then valid-but-messy
# spellings (one per form for each clean value, in the same order), then values
# that are not statuses.
PRESENT, LATE, ABSENT, EXCUSED = (ATTENDANCE_STATUSES.index(s) for s in ("present", "late", "absent", "excused"))
_N_CLEAN = len(ATTENDANCE_STATUSES)
_MESSY_FORMS = (lambda s: f" {s.capitalize()} ", lambda s: s.upper(), lambda s: f"{s} ")
BAD_STATUSES = ("holiday", "sick", "", "P", "unknown", "n/a")
STATUS_VOCAB = (
    list(ATTENDANCE_STATUSES)
    + [form(status) for status in ATTENDANCE_STATUSES for form in _MESSY_FORMS]
    + list(BAD_STATUSES)
)
FIRST_MESSY_STATUS = _N_CLEAN
FIRST_BAD_STATUS = _N_CLEAN * (1 + len(_MESSY_FORMS))


def _other_status(rng: np.random.Generator, status: np.ndarray) -> np.ndarray:
    """A different clean status for each row."""
    return (status + rng.integers(1, _N_CLEAN, len(status))) % _N_CLEAN


class AttendanceBuilder:
    """Builds each delivery's attendance files in turn, carrying the rows later deliveries restate."""

    def __init__(self, context: DeliveryContext):
        self.context = context
        self.cfg = context.cfg
        self.traits = context.traits
        self.status_vocabulary = pa.array(STATUS_VOCAB, LARGE_STRING)
        self.restatements = RestatementPool(context.cfg)

    def build(self, index: int, days: np.ndarray) -> tuple[list[GeneratedFile], dict[str, int]]:
        """Delivery number `index` (from 0), covering these school-day indexes; returns its files and stats."""
        cfg, traits = self.cfg, self.traits
        rng = random_stream(cfg, ATTENDANCE, index)
        layout_rng = random_stream(cfg, LAYOUT, index)
        rows = self._registers(rng, days)
        n = row_count(rows)

        n_files = (1, 2, 3)[index] if index < 3 else int(layout_rng.integers(1, 4))
        # Registers are exported per group of classes; with too few classes, per day instead.
        by_class = len(self.context.dataset.classes) >= 2 * n_files
        rows["file"] = (traits.class_index[rows["student"]] if by_class else rows["day"]) % n_files
        rows["position"] = np.arange(n, dtype=np.float64)

        # Problems injected in place, on disjoint sets of rows.
        counts = {
            "missing_key": injected_count(cfg.missing_key_share, n, cfg.min_injected),
            "bad_date": injected_count(cfg.bad_date_share, n, cfg.min_injected),
            "bad_status": injected_count(cfg.bad_status_share, n, cfg.min_injected),
            "messy": injected_count(cfg.messy_share, n, cfg.min_injected),
        }
        picked, touched = problem_rows(rng, n, counts)
        missing_key = picked["missing_key"]
        blank_id = rng.random(len(missing_key)) < 0.5
        rows["id_blank"][missing_key[blank_id]] = True
        rows["written_student"][missing_key[~blank_id]] = traits.empty_id_code
        # Taken before they are broken: what a later delivery sends when it fixes them.
        fixable = pick_rows(rows, np.sort(np.concatenate([picked["bad_date"], picked["bad_status"]])))
        bad_date = picked["bad_date"]
        rows["written_date"][bad_date] = self.context.bad_date_codes(rng, rows["day"][bad_date])
        rows["status"][picked["bad_status"]] = FIRST_BAD_STATUS + rng.integers(
            0, len(BAD_STATUSES), counts["bad_status"]
        )
        messy = picked["messy"]
        form = rng.integers(0, len(_MESSY_FORMS), len(messy))
        rows["status"][messy] = FIRST_MESSY_STATUS + rows["status"][messy] * len(_MESSY_FORMS) + form
        lengths = file_lengths(rows, n_files)

        unknown = self._unknown_students(rng, days, n, n_files, lengths)

        # Duplicates later in the same file: half identical, half with another status.
        clean = np.flatnonzero(~touched)
        n_duplicates = min(len(clean), injected_count(cfg.duplicate_share, n, cfg.min_injected))
        duplicates = pick_rows(rows, np.sort(rng.choice(clean, size=n_duplicates, replace=False)))
        changed = rng.random(n_duplicates) < 0.5
        duplicates["status"] = np.where(changed, _other_status(rng, duplicates["status"]), duplicates["status"])
        place_later(rng, duplicates, lengths)

        restated, restated_stats = self.restatements.restate(rng, n, self._break, self._change)
        if restated:
            restated["file"] = rng.integers(0, n_files, row_count(restated))
            place_anywhere(rng, restated, lengths)
        self.restatements.remember(rng, fixable, pick_rows(rows, np.flatnonzero(~touched)), n)

        every_row = stack_frames([rows, unknown, duplicates, restated])
        with_tutor = [
            (index == 1 and file == 0) or (index >= 2 and layout_rng.random() < 0.3) for file in range(n_files)
        ]
        names = ["attendance.csv"] if n_files == 1 else [f"attendance_{'abc'[file]}.csv" for file in range(n_files)]
        files = [
            self._render(pick_rows(every_row, in_file), names[file], with_tutor[file])
            for file, in_file in enumerate(rows_per_file(every_row, n_files))
        ]
        stats = {
            "rows": sum(f.rows for f in files), **counts, "unknown_student": row_count(unknown),
            "duplicate": n_duplicates, **restated_stats,
        }
        stats["late_student_rows"] = self.context.late_student_rows(every_row)
        return files, stats

    def _registers(self, rng: np.random.Generator, days: np.ndarray) -> Frame:
        """One register row per student per school day, in class order, until a leaver's last day."""
        traits = self.traits
        order = traits.register_order
        student = np.tile(order, len(days))
        day = np.repeat(days, len(order))
        attending = traits.leaving_day[student] > day
        student, day = student[attending], day[attending]
        n = len(student)
        draw = rng.random(n)
        absent = traits.absence_chance[student]
        late = absent + traits.lateness_chance[student]
        excused = late + traits.excused_chance[student]
        status = np.where(
            draw < absent, ABSENT, np.where(draw < late, LATE, np.where(draw < excused, EXCUSED, PRESENT))
        )
        return {
            "day": day, "student": student, "written_student": student.copy(), "written_date": day.copy(),
            "status": status, "id_blank": np.zeros(n, bool),
        }

    def _unknown_students(
        self, rng: np.random.Generator, days: np.ndarray, n_rows: int, n_files: int, lengths: np.ndarray
    ) -> Frame:
        """Rows from students the SIS has never heard of, at most one per student and day."""
        cfg, traits = self.cfg, self.traits
        n = injected_count(cfg.unknown_student_share, n_rows, cfg.min_injected)
        student = traits.student_count + rng.integers(0, self.context.n_unknown_students, n)
        day = rng.choice(days, n)
        unknown: Frame = {
            "day": day, "student": student, "written_student": student.copy(), "written_date": day.copy(),
            "status": rng.integers(0, _N_CLEAN, n), "id_blank": np.zeros(n, bool),
        }
        unknown["file"] = rng.integers(0, n_files, n)
        place_anywhere(rng, unknown, lengths)
        # The same id (unknown student, day) drawn twice would be an accidental duplicate.
        _, first = np.unique(unknown["day"] * len(traits.id_vocabulary) + unknown["student"], return_index=True)
        return pick_rows(unknown, np.sort(first))

    def _break(self, rng: np.random.Generator, rows: Frame) -> Frame:
        """A row sent good, sent again with a bad date (three in ten) or a bad status."""
        n = row_count(rows)
        by_date = rng.random(n) < 0.3
        rows["written_date"] = np.where(by_date, self.context.bad_date_codes(rng, rows["day"]), rows["written_date"])
        rows["status"] = np.where(by_date, rows["status"], FIRST_BAD_STATUS + rng.integers(0, len(BAD_STATUSES), n))
        return rows

    @staticmethod
    def _change(rng: np.random.Generator, rows: Frame) -> Frame:
        # Typically an absence later explained: absent -> excused; otherwise any other status.
        other = _other_status(rng, rows["status"])
        rows["status"] = np.where(rows["status"] == ABSENT, EXCUSED, other)
        return rows

    def _render(self, rows: Frame, name: str, with_tutor: bool) -> GeneratedFile:
        ids = self.traits.id_vocabulary
        attendance_id = concat_text(
            "A", self.context.compact_dates.take(positions(rows["day"])), "-", ids.take(positions(rows["student"]))
        )
        attendance_id = pc.if_else(pa.array(rows["id_blank"]), text_scalar(""), attendance_id)
        columns = [
            attendance_id,
            ids.take(positions(rows["written_student"])),
            self.context.date_vocabulary.take(positions(rows["written_date"])),
            self.status_vocabulary.take(positions(rows["status"])),
        ]
        header = ",".join(ATTENDANCE_HEADER)
        if with_tutor:
            # A register export that also names the tutor; readers must ignore it.
            traits = self.traits
            class_index = traits.class_index[np.minimum(rows["student"], traits.student_count - 1)]
            tutor = np.char.add("T", np.char.zfill((class_index % 97 + 1).astype(str), 3))
            columns.append(pa.array(tutor, LARGE_STRING))
            header += ",recorded_by"
        parts: list[pa.Array | str] = []
        for i, column in enumerate(columns):
            if i:
                parts.append(",")
            parts.append(column)
        lines = concat_text(*parts)
        body = joined_bytes(lines, "\n")
        data = (header + "\n").encode() + body + (b"\n" if body else b"")
        return GeneratedFile(name=name, source="attendance", data=data, rows=len(lines))
