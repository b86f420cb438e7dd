"""The SIS's rows: programmes, their classes and the students in them, with names and dates of birth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

import numpy as np
import pandas as pd

from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.generate.random_draws import SIS, injected_count, random_stream
from eduwh_assets.generate.school_calendar import academic_year_label
from eduwh_assets.rules import ENROLMENT_STATUSES

PROGRAMME_CATALOGUE = (
    ("BUS", "Business Management", "Business & Law"),
    ("ACC", "Accounting", "Business & Law"),
    ("LAW", "Law", "Business & Law"),
    ("APS", "Applied Science", "Science & Engineering"),
    ("ENG", "Engineering", "Science & Engineering"),
    ("BIO", "Biomedical Science", "Science & Engineering"),
    ("CSC", "Computer Science", "Computing"),
    ("SWD", "Software Development", "Computing"),
    ("CYB", "Cyber Security", "Computing"),
    ("ART", "Art & Design", "Arts & Humanities"),
    ("ENL", "English Literature", "Arts & Humanities"),
    ("HIS", "History", "Arts & Humanities"),
    ("MUS", "Music Performance", "Arts & Humanities"),
    ("HSC", "Health & Social Care", "Health & Social Care"),
    ("SPS", "Sport Science", "Health & Social Care"),
    ("PSY", "Psychology", "Health & Social Care"),
)
LEVELS = (("L2", "Level 2"), ("L3", "Level 3"), ("FD", "Foundation Degree"))

FIRST_NAMES = (
    "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Ivy", "Leo", "Freya", "Oscar",
    "Aisha", "Mohammed", "Zara", "Yusuf", "Priya", "Arjun", "Mei", "Wei", "Chloe", "Jack", "Grace", "Harry",
    "Sofia", "Luca", "Nia", "Kwame", "Amara", "Tariq", "Hannah", "Daniel", "Ella", "Samuel", "Ruby", "Ethan",
    "Maya", "Adam", "Layla", "Ibrahim", "Emily", "Thomas", "Olivia", "Jacob", "Fatima", "Ali", "Lily", "Max",
    "Erin", "Callum", "Niamh", "Rhys", "Seren", "Dylan", "Eilidh", "Finlay", "Anya", "Kacper", "Zofia", "Tomasz",
)
LAST_NAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Khan", "Ahmed", "Patel", "Singh", "Ali", "Hussain", "Begum", "Shah", "Chen", "Wang", "Li", "Nguyen",
    "Okafor", "Mensah", "Adeyemi", "Osei", "Kowalski", "Nowak", "Murphy", "O'Brien", "Kelly", "Campbell",
    "Stewart", "MacDonald", "Morgan", "Price", "Jenkins", "Lloyd", "Rossi", "Silva", "Garcia", "Martin",
)


@dataclass
class SisRows:
    programmes: pd.DataFrame
    classes: pd.DataFrame
    students: pd.DataFrame  # every student, the late ones included
    late_student_ids: list[str]
    class_of_student: np.ndarray  # row of `classes` per student
    enrolment_code: np.ndarray  # index into ENROLMENT_STATUSES per student
    student_id_digits: int  # digits after the S of a student id


def sis_rows(cfg: GeneratorConfig) -> SisRows:
    """The three SIS tables; their draws come in this order from the SIS stream."""
    rng = random_stream(cfg, SIS)
    # SIS rows were last touched in the fortnight before term starts: fixed
    # timestamps, so re-generating gives identical rows and a stable cursor.
    last_touched = datetime.combine(cfg.start_date - timedelta(days=14), time(7, 0), tzinfo=timezone.utc)
    n_classes = max(1, math.ceil(cfg.students / cfg.students_per_class))
    programmes = _programmes(rng, n_classes, last_touched)
    classes = _classes(rng, cfg, programmes["programme_code"].tolist(), n_classes, last_touched)
    class_of_student = _class_of_student(rng, cfg.students, n_classes)
    students, enrolment_code, late_student_ids, student_id_digits = _students(
        rng, cfg, classes["class_id"].to_numpy()[class_of_student], last_touched
    )
    for table in (programmes, classes, students):
        table["updated_at"] = pd.to_datetime(table["updated_at"], utc=True)
    return SisRows(
        programmes, classes, students, late_student_ids, class_of_student, enrolment_code, student_id_digits
    )


def _programmes(rng: np.random.Generator, n_classes: int, last_touched: datetime) -> pd.DataFrame:
    n_programmes = min(len(PROGRAMME_CATALOGUE) * len(LEVELS), max(2, math.ceil(n_classes / 3)))
    offered = [(programme, level) for level in LEVELS for programme in PROGRAMME_CATALOGUE]
    chosen = sorted(rng.choice(len(offered), size=n_programmes, replace=False))
    rows = []
    for i, choice in enumerate(chosen):
        (abbreviation, name, faculty), (level_code, level_name) = offered[choice]
        rows.append(
            {
                "programme_code": f"{abbreviation}-{level_code}",
                "programme_name": f"{name} ({level_name})",
                "faculty": faculty,
                "level": level_name,
                "updated_at": last_touched + timedelta(minutes=7 * i),
            }
        )
    return pd.DataFrame(rows).sort_values("programme_code", ignore_index=True)


def _classes(
    rng: np.random.Generator, cfg: GeneratorConfig, programme_codes: list[str], n_classes: int, last_touched: datetime
) -> pd.DataFrame:
    n_programmes = len(programme_codes)
    # Every programme gets at least one class; the rest are spread at random.
    programme_of_class = np.concatenate(
        [np.arange(min(n_programmes, n_classes)), rng.integers(0, n_programmes, max(0, n_classes - n_programmes))]
    )
    programme_of_class = np.sort(programme_of_class)
    id_digits = max(4, len(str(n_classes)))
    academic_year = academic_year_label(cfg.start_date)
    groups_so_far: dict[int, int] = {}
    rows = []
    for i, programme in enumerate(programme_of_class):
        groups_so_far[programme] = groups_so_far.get(programme, 0) + 1
        rows.append(
            {
                "class_id": f"C{i + 1:0{id_digits}d}",
                "class_name": f"{programme_codes[programme]} group {groups_so_far[programme]}",
                "programme_code": programme_codes[programme],
                "academic_year": academic_year,
                "updated_at": last_touched + timedelta(days=1, minutes=3 * i),
            }
        )
    return pd.DataFrame(rows)


def _class_of_student(rng: np.random.Generator, n_students: int, n_classes: int) -> np.ndarray:
    # An even split, then students moved between neighbouring classes so sizes
    # vary (about 20-30 with the default class size).
    sizes = np.full(n_classes, n_students // n_classes)
    sizes[: n_students % n_classes] += 1
    for i in range(0, n_classes - 1, 2):
        moved = min(int(rng.integers(0, 5)), sizes[i] - 1)
        sizes[i] -= moved
        sizes[i + 1] += moved
    return rng.permutation(np.repeat(np.arange(n_classes), sizes))


def _students(
    rng: np.random.Generator, cfg: GeneratorConfig, class_ids: np.ndarray, last_touched: datetime
) -> tuple[pd.DataFrame, np.ndarray, list[str], int]:
    """The students table, each student's enrolment code, the late students' ids and the id width."""
    n = cfg.students
    id_digits = max(6, len(str(n)) + 1)
    student_ids = [f"S{i + 1:0{id_digits}d}" for i in range(n)]
    first_names = [FIRST_NAMES[i] for i in rng.integers(0, len(FIRST_NAMES), n)]
    last_names = [LAST_NAMES[i] for i in rng.integers(0, len(LAST_NAMES), n)]
    emails = [
        f"{first.lower()}.{last.lower().replace(chr(39), '')}.{sid[1:].lstrip('0')}@students.eduwh.example"
        for first, last, sid in zip(first_names, last_names, student_ids)
    ]
    age_in_days = rng.integers(16 * 365, 19 * 365 + 1, n)
    date_of_birth = [cfg.start_date - timedelta(days=int(age)) for age in age_in_days]
    gender = rng.choice(np.array(["F", "M", "X"]), size=n, p=[0.49, 0.49, 0.02])
    enrolment_code = rng.choice(np.arange(4), size=n, p=[0.88, 0.03, 0.06, 0.03])

    n_late = injected_count(cfg.late_student_share, n, cfg.min_injected + 1) if n > 3 else 0
    late = np.sort(rng.choice(n, size=min(n_late, n), replace=False))
    enrolment_code[late] = 0  # a student who just enrolled is active
    updated_at = [last_touched + timedelta(days=2, seconds=int(second)) for second in rng.integers(0, 3 * 86400, n)]

    students = pd.DataFrame(
        {
            "student_id": student_ids,
            "first_name": first_names,
            "last_name": last_names,
            "email": emails,
            "date_of_birth": date_of_birth,
            "gender": gender,
            "class_id": class_ids,
            "enrolment_status": np.array(ENROLMENT_STATUSES)[enrolment_code],
            "updated_at": updated_at,
        }
    )
    return students, enrolment_code, [student_ids[i] for i in late], id_digits
