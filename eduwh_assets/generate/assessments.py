"""Each delivery's assessment results: JSON arrays or JSON lines, one object per result, with injected problems."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from eduwh_assets.generate.arrow_text import (
    LARGE_STRING,
    concat_text,
    joined_bytes,
    number_text,
    positions,
    text_scalar,
)
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
from eduwh_assets.generate.random_draws import ASSESSMENTS, LAYOUT, injected_count, random_stream
from eduwh_assets.generate.row_frames import Frame, pick_rows, row_count, stack_frames

SUBJECTS = (
    "Mathematics", "English", "Biology", "Chemistry", "Physics", "Computing",
    "History", "Geography", "Psychology", "Business", "Art", "Music",
)
BAD_SCORE_WORDS = ("absent", "n/a", "TBC", "", "forty")
MAX_SCORES = np.array([10, 20, 25, 50, 100])
MAX_SCORE_WEIGHTS = np.array([0.1, 0.25, 0.1, 0.25, 0.3])
# How a number is written: 0 as an integer (45), 1 as a float (45.0), 2 as a string ("45").
_NUMBER_FORMS = 3
_AS_FLOAT, _AS_STRING = 1, 2
# Layout streams of assessments are numbered after those of attendance.
_LAYOUT_OFFSET = 1000


class AssessmentBuilder:
    """Builds each delivery's assessment files in turn, numbering results across deliveries."""

    def __init__(self, context: DeliveryContext):
        self.context = context
        self.cfg = context.cfg
        self.traits = context.traits
        self.subjects = pa.array(SUBJECTS, LARGE_STRING)
        self.score_words = pa.array(BAD_SCORE_WORDS, LARGE_STRING)
        self.restatements = RestatementPool(context.cfg)
        self.results_numbered = 0

    def _next_numbers(self, n: int) -> np.ndarray:
        numbers = self.results_numbered + np.arange(1, n + 1)
        self.results_numbered += n
        return numbers

    def build(self, index: int, days: np.ndarray) -> tuple[list[GeneratedFile], dict[str, int]]:
        """Delivery number `index` (from 0), covering these school-day indexes; returns its files and stats."""
        cfg = self.cfg
        rng = random_stream(cfg, ASSESSMENTS, index)
        layout_rng = random_stream(cfg, LAYOUT, _LAYOUT_OFFSET + index)
        rows = self._results(rng, days)
        n = row_count(rows)

        # File layout: one file, or coursework and exams; .json arrays or .jsonl.
        if index == 0:
            layout = [("assessments", ".json")]
        elif index == 1:
            layout = [("assessments", ".jsonl")]
        elif index == 2:
            layout = [("assessments_coursework", ".jsonl"), ("assessments_exams", ".json")]
        elif layout_rng.random() < 0.6:
            layout = [("assessments", (".json", ".jsonl")[int(layout_rng.integers(0, 2))])]
        else:
            layout = [
                ("assessments_coursework", ".jsonl"),
                ("assessments_exams", (".json", ".jsonl")[int(layout_rng.integers(0, 2))]),
            ]
        n_files = len(layout)
        rows["file"] = (rng.random(n) < 0.3).astype(np.int64) if n_files == 2 else np.zeros(n, np.int64)
        rows["position"] = np.arange(n, dtype=np.float64)

        counts = {
            "missing_key": injected_count(cfg.missing_key_share, n, cfg.min_injected),
            "bad_date": injected_count(cfg.bad_date_share, n, cfg.min_injected),
            "bad_score": injected_count(cfg.bad_score_share, n, cfg.min_injected),
        }
        picked, touched = problem_rows(rng, n, counts)
        missing_key = picked["missing_key"]
        how = rng.integers(0, 3, len(missing_key))  # 0: empty id, 1: empty student_id, 2: student_id left out
        rows["id_blank"][missing_key[how == 0]] = True
        rows["written_student"][missing_key[how >= 1]] = self.traits.empty_id_code
        rows["student_id_left_out"][missing_key[how == 2]] = True
        # Taken before they are broken: what a later delivery sends when it fixes them.
        fixable = pick_rows(rows, np.sort(np.concatenate([picked["bad_date"], picked["bad_score"]])))
        bad_date = picked["bad_date"]
        rows["written_date"][bad_date] = self.context.bad_date_codes(rng, rows["day"][bad_date])
        self._break_scores(rng, rows, picked["bad_score"])
        lengths = file_lengths(rows, n_files)

        # Results of students the SIS has never heard of, copied from clean ones.
        untouched = np.flatnonzero(~touched)
        wanted = injected_count(cfg.unknown_student_share, n, cfg.min_injected)
        unknown = pick_rows(rows, rng.choice(untouched, size=min(wanted, len(untouched)), replace=False))
        n_unknown = row_count(unknown)
        unknown["number"] = self._next_numbers(n_unknown)
        unknown["student"] = self.traits.student_count + rng.integers(0, self.context.n_unknown_students, n_unknown)
        unknown["written_student"] = unknown["student"].copy()
        place_anywhere(rng, unknown, lengths)

        # Duplicates later in the same file: half identical, half regraded.
        n_duplicates = min(len(untouched), injected_count(cfg.duplicate_share, n, cfg.min_injected))
        duplicates = pick_rows(rows, np.sort(rng.choice(untouched, size=n_duplicates, replace=False)))
        regraded = rng.random(n_duplicates) < 0.5
        duplicates["score"] = np.where(
            regraded,
            np.clip(duplicates["score"] + rng.integers(-3, 4, n_duplicates), 0, duplicates["max_score"]),
            duplicates["score"],
        )
        place_later(rng, duplicates, lengths)

        restated, restated_stats = self.restatements.restate(rng, n, self._break, self._change)
        if restated:
            restated["file"] = rng.integers(0, n_files, row_count(restated))
            place_anywhere(rng, restated, lengths)
        self.restatements.remember(rng, fixable, pick_rows(rows, untouched), n)

        every_row = stack_frames([rows, unknown, duplicates, restated])
        files = []
        for file, in_file in enumerate(rows_per_file(every_row, n_files)):
            stem, extension = layout[file]
            files.append(self._render(pick_rows(every_row, in_file), stem + extension))
        stats = {
            "rows": sum(f.rows for f in files), **counts, "unknown_student": n_unknown,
            "duplicate": n_duplicates, **restated_stats,
        }
        stats["late_student_rows"] = self.context.late_student_rows(every_row)
        return files, stats

    def _results(self, rng: np.random.Generator, days: np.ndarray) -> Frame:
        """About `assessments_per_month` results per student, on days the student still attends."""
        traits = self.traits
        expected = self.cfg.assessments_per_month * len(days) / 20.0
        first_day = days[0]
        attending = np.flatnonzero(traits.leaving_day[: traits.student_count] > first_day)
        student = np.repeat(attending, rng.poisson(expected, len(attending)))
        attended_days = np.minimum(len(days), traits.leaving_day[student] - first_day)
        day = first_day + (rng.random(len(student)) * attended_days).astype(np.int64)
        order = np.lexsort((student, day))
        student, day = student[order], day[order]
        n = len(student)
        max_score = rng.choice(MAX_SCORES, size=n, p=MAX_SCORE_WEIGHTS).astype(np.float64)
        fraction = np.clip(rng.normal(traits.ability[student], 0.15), 0, 1)
        halves = (max_score <= 25) & (rng.random(n) < 0.3)
        score = np.where(halves, np.round(fraction * max_score * 2) / 2, np.round(fraction * max_score))
        return {
            "number": self._next_numbers(n),
            "student": student, "written_student": student.copy(),
            "student_id_left_out": np.zeros(n, bool), "id_blank": np.zeros(n, bool),
            "day": day, "written_date": day.copy(), "subject": rng.integers(0, len(SUBJECTS), n),
            "score": score, "score_form": rng.choice(_NUMBER_FORMS, size=n, p=[0.7, 0.15, 0.15]),
            "max_score": max_score, "max_score_form": rng.choice(_NUMBER_FORMS, size=n, p=[0.8, 0.1, 0.1]),
            "score_word": np.full(n, -1),
        }

    @staticmethod
    def _break_scores(rng: np.random.Generator, rows: Frame, broken: np.ndarray) -> None:
        """Make these rows fail the score rule: a word, max_score 0, a negative score or one above max."""
        how = rng.integers(0, 4, len(broken))
        as_word = broken[how == 0]
        rows["score_word"][as_word] = rng.integers(0, len(BAD_SCORE_WORDS), len(as_word))
        zero_max = broken[how == 1]
        rows["max_score"][zero_max] = 0
        rows["max_score_form"][zero_max] = 0
        negative = broken[how == 2]
        rows["score"][negative] = -rng.integers(1, 6, len(negative)).astype(np.float64)
        over_max = broken[how == 3]
        rows["score"][over_max] = rows["max_score"][over_max] + rng.integers(1, 11, len(over_max))

    def _break(self, rng: np.random.Generator, rows: Frame) -> Frame:
        self._break_scores(rng, rows, np.arange(row_count(rows)))
        return rows

    @staticmethod
    def _change(rng: np.random.Generator, rows: Frame) -> Frame:
        # A re-mark: the score moves by a few points, staying in range.
        n = row_count(rows)
        moved = rng.integers(1, 6, n) * rng.choice([-1, 1], n)
        rows["score"] = np.clip(rows["score"] + moved, 0, rows["max_score"])
        return rows

    def _render(self, rows: Frame, name: str) -> GeneratedFile:
        n = row_count(rows)
        number = pc.utf8_lpad(pa.array(rows["number"]).cast(pa.string()), 8, "0").cast(LARGE_STRING)
        assessment_id = pc.if_else(pa.array(rows["id_blank"]), text_scalar(""), concat_text("AS", number))
        written_id = self.traits.id_vocabulary.take(positions(rows["written_student"]))
        student = concat_text('"student_id": "', written_id, '", ')
        student = pc.if_else(pa.array(rows["student_id_left_out"]), text_scalar(""), student)

        def literal(values: np.ndarray, form: np.ndarray) -> pa.Array:
            text = number_text(values, form == _AS_FLOAT)
            return pc.if_else(pa.array(form == _AS_STRING), concat_text('"', text, '"'), text)

        score = literal(rows["score"], rows["score_form"])
        as_word = rows["score_word"] >= 0
        if as_word.any():
            word = concat_text('"', self.score_words.take(positions(np.maximum(rows["score_word"], 0))), '"')
            score = pc.if_else(pa.array(as_word), word, score)
        lines = concat_text(
            '{"assessment_id": "', assessment_id, '", ', student,
            '"subject": "', self.subjects.take(positions(rows["subject"])), '", "score": ', score,
            ', "max_score": ', literal(rows["max_score"], rows["max_score_form"]),
            ', "assessed_on": "', self.context.date_vocabulary.take(positions(rows["written_date"])), '"}',
        )
        if name.endswith(".jsonl"):
            data = joined_bytes(lines, "\n") + (b"\n" if n else b"")
        else:
            data = b"[\n" + joined_bytes(lines, ",\n") + (b"\n]\n" if n else b"]\n")
        return GeneratedFile(name=name, source="assessments", data=data, rows=n)
