"""The generator: SIS tables and delivery files, built in memory with numpy and pyarrow.

Rows are held as small integer codes (index into a student, date or status
vocabulary) until a file is rendered, so injecting problems, duplicating and
restating rows are cheap array operations even at ten million rows. Every
random draw comes from a generator seeded by (seed, purpose, delivery), so the
output depends on the config alone and never on the clock.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from eduwh_assets.generate.config import GeneratorConfig
from eduwh_assets.rules import ATTENDANCE_STATUSES, ENROLMENT_STATUSES

LSTR = pa.large_string()

ATTENDANCE_HEADER = ("attendance_id", "student_id", "session_date", "status")
SUBJECTS = (
    "Mathematics", "English", "Biology", "Chemistry", "Physics", "Computing",
    "History", "Geography", "Psychology", "Business", "Art", "Music",
)

# Status vocabulary: 0-3 the clean values, then valid-but-messy spellings
# (3 per clean value, in ATTENDANCE_STATUSES order), then values that are not statuses.
_MESSY_FORMS = (lambda s: f" {s.capitalize()} ", lambda s: s.upper(), lambda s: f"{s} ")
STATUS_VOCAB = list(ATTENDANCE_STATUSES) + [f(s) for s in ATTENDANCE_STATUSES for f in _MESSY_FORMS]
_MESSY0 = len(ATTENDANCE_STATUSES)
BAD_STATUSES = ("holiday", "sick", "", "P", "unknown", "n/a")
_BAD_STATUS0 = len(STATUS_VOCAB)
STATUS_VOCAB += list(BAD_STATUSES)

BAD_SCORE_WORDS = ("absent", "n/a", "TBC", "", "forty")
MAX_SCORES = np.array([10, 20, 25, 50, 100])
MAX_SCORE_WEIGHTS = np.array([0.1, 0.25, 0.1, 0.25, 0.3])

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

# Random-stream purposes: each gets its own seeded generator so that changing one
# part of the generator does not shift the draws of another.
_SIS, _STUDENT_TRAITS, _ATTENDANCE, _ASSESSMENTS, _LAYOUT = range(5)


def _rng(cfg: GeneratorConfig, purpose: int, k: int = 0) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, purpose, k])


# --- calendar ----------------------------------------------------------------------------


def _monday_on_or_before(d: date) -> date:
    return d - timedelta(days=d.weekday())


@lru_cache(maxsize=None)
def _holidays(academic_year: int) -> tuple[tuple[date, date], ...]:
    """Half-terms and breaks of the academic year starting in September `academic_year` (end exclusive)."""
    y = academic_year
    spans = [
        (_monday_on_or_before(date(y, 10, 27)), 7),  # October half-term
        (_monday_on_or_before(date(y, 12, 22)), 14),  # Christmas
        (_monday_on_or_before(date(y + 1, 2, 16)), 7),  # February half-term
        (_monday_on_or_before(date(y + 1, 4, 3)), 14),  # Easter
        (_monday_on_or_before(date(y + 1, 5, 26)), 7),  # May half-term
    ]
    out = [(start, start + timedelta(days=n)) for start, n in spans]
    out.append((date(y + 1, 7, 20), date(y + 1, 9, 1)))  # summer
    return tuple(out)


def is_school_day(d: date) -> bool:
    if d.weekday() >= 5:
        return False
    academic_year = d.year if d.month >= 9 else d.year - 1
    return not any(start <= d < end for start, end in _holidays(academic_year))


def school_days(start: date, count: int) -> list[date]:
    days: list[date] = []
    d = start
    while len(days) < count:
        if is_school_day(d):
            days.append(d)
        d += timedelta(days=1)
    return days


def academic_year_label(d: date) -> str:
    y = d.year if d.month >= 9 else d.year - 1
    return f"{y}/{(y + 1) % 100:02d}"


# --- output types ------------------------------------------------------------------------------


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


@dataclass
class Dataset:
    config: GeneratorConfig
    programmes: pd.DataFrame
    classes: pd.DataFrame
    students: pd.DataFrame  # every student, the late ones included
    late_student_ids: list[str]
    unknown_student_ids: list[str]  # ids used in deliveries that never exist in the SIS
    school_days: list[date]
    _traits: "_StudentTraits"
    _cache: list[GeneratedDelivery] | None = None

    @property
    def delivery_codes(self) -> list[str]:
        n = self.config.days_per_delivery
        return [self.school_days[(k + 1) * n - 1].isoformat() for k in range(self.config.deliveries)]

    def sis_students(self, include_late: bool = False) -> pd.DataFrame:
        if include_late:
            return self.students
        return self.students[~self.students["student_id"].isin(self.late_student_ids)].reset_index(drop=True)

    def iter_deliveries(self) -> Iterator[GeneratedDelivery]:
        """Deliveries in code order, built one at a time so large scales need not fit in memory."""
        if self._cache is not None:
            yield from self._cache
            return
        yield from _DeliveryBuilder(self).run()

    @property
    def deliveries(self) -> list[GeneratedDelivery]:
        """All deliveries, built once and kept (fine for the tiny to demo scales)."""
        if self._cache is None:
            self._cache = list(_DeliveryBuilder(self).run())
        return self._cache


@dataclass
class _StudentTraits:
    ids: pa.Array  # student ids, then unknown ids, then "" (the vocabulary student codes index)
    n_real: int
    register_order: np.ndarray  # real students sorted by class, then id
    class_index: np.ndarray
    cutoff: np.ndarray  # first global school-day index the student no longer attends
    p_absent: np.ndarray
    p_late: np.ndarray
    p_excused: np.ndarray
    ability: np.ndarray  # mean score fraction

    @property
    def empty_code(self) -> int:
        return len(self.ids) - 1


# --- SIS --------------------------------------------------------------------------------------


def generate(cfg: GeneratorConfig) -> Dataset:
    """Build the SIS tables now; deliveries are built on demand by the returned Dataset."""
    rng = _rng(cfg, _SIS)
    n = cfg.students
    days = school_days(cfg.start_date, cfg.school_days)
    # SIS rows were last touched in the fortnight before term starts: fixed
    # timestamps, so re-generating gives identical rows and a stable cursor.
    base_ts = datetime.combine(cfg.start_date - timedelta(days=14), time(7, 0), tzinfo=timezone.utc)
    year = academic_year_label(cfg.start_date)

    n_classes = max(1, math.ceil(n / cfg.students_per_class))
    n_programmes = min(len(PROGRAMME_CATALOGUE) * len(LEVELS), max(2, math.ceil(n_classes / 3)))
    combos = [(p, lv) for lv in LEVELS for p in PROGRAMME_CATALOGUE]
    chosen = sorted(rng.choice(len(combos), size=n_programmes, replace=False))
    prog_rows = []
    for i, c in enumerate(chosen):
        (abbr, name, faculty), (lcode, lname) = combos[c]
        prog_rows.append(
            {
                "programme_code": f"{abbr}-{lcode}",
                "programme_name": f"{name} ({lname})",
                "faculty": faculty,
                "level": lname,
                "updated_at": base_ts + timedelta(minutes=7 * i),
            }
        )
    programmes = pd.DataFrame(prog_rows).sort_values("programme_code", ignore_index=True)
    prog_codes = programmes["programme_code"].tolist()

    # Every programme gets at least one class; the rest are spread at random.
    class_prog = np.concatenate(
        [np.arange(min(n_programmes, n_classes)), rng.integers(0, n_programmes, max(0, n_classes - n_programmes))]
    )
    class_prog = np.sort(class_prog)
    cwidth = max(4, len(str(n_classes)))
    group_no: dict[int, int] = {}
    class_rows = []
    for i, p in enumerate(class_prog):
        group_no[p] = group_no.get(p, 0) + 1
        class_rows.append(
            {
                "class_id": f"C{i + 1:0{cwidth}d}",
                "class_name": f"{prog_codes[p]} group {group_no[p]}",
                "programme_code": prog_codes[p],
                "academic_year": year,
                "updated_at": base_ts + timedelta(days=1, minutes=3 * i),
            }
        )
    classes = pd.DataFrame(class_rows)

    # Class sizes: an even split, then students moved between neighbouring
    # classes so sizes vary (about 20-30 with the default class size).
    sizes = np.full(n_classes, n // n_classes)
    sizes[: n % n_classes] += 1
    for i in range(0, n_classes - 1, 2):
        move = int(rng.integers(0, 5))
        move = min(move, sizes[i] - 1)
        sizes[i] -= move
        sizes[i + 1] += move
    class_of = rng.permutation(np.repeat(np.arange(n_classes), sizes))

    swidth = max(6, len(str(n)) + 1)
    sid_list = [f"S{i + 1:0{swidth}d}" for i in range(n)]
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    firsts = [FIRST_NAMES[i] for i in first]
    lasts = [LAST_NAMES[i] for i in last]
    emails = [
        f"{f.lower()}.{l.lower().replace(chr(39), '')}.{sid[1:].lstrip('0')}@students.eduwh.example"
        for f, l, sid in zip(firsts, lasts, sid_list)
    ]
    age_days = rng.integers(16 * 365, 19 * 365 + 1, n)
    dob = [cfg.start_date - timedelta(days=int(a)) for a in age_days]
    gender = rng.choice(np.array(["F", "M", "X"]), size=n, p=[0.49, 0.49, 0.02])
    enrol = rng.choice(np.arange(4), size=n, p=[0.88, 0.03, 0.06, 0.03])

    n_late = _count(cfg.late_student_share, n, cfg.min_injected + 1) if n > 3 else 0
    late_idx = np.sort(rng.choice(n, size=min(n_late, n), replace=False))
    enrol[late_idx] = 0  # a student who just enrolled is active
    updated = [base_ts + timedelta(days=2, seconds=int(s)) for s in rng.integers(0, 3 * 86400, n)]

    students = pd.DataFrame(
        {
            "student_id": sid_list,
            "first_name": firsts,
            "last_name": lasts,
            "email": emails,
            "date_of_birth": dob,
            "gender": gender,
            "class_id": classes["class_id"].to_numpy()[class_of],
            "enrolment_status": np.array(ENROLMENT_STATUSES)[enrol],
            "updated_at": updated,
        }
    )
    for df in (programmes, classes, students):
        df["updated_at"] = pd.to_datetime(df["updated_at"], utc=True)

    # Behaviour the SIS does not show but the deliveries do.
    trng = _rng(cfg, _STUDENT_TRAITS)
    at_risk = trng.random(n) < cfg.at_risk_share
    p_absent = np.where(at_risk, trng.beta(4, 8, n), trng.beta(1.2, 30, n))
    p_late = trng.beta(1.5, 30, n)
    p_excused = trng.beta(1, 60, n)
    ability = np.clip(np.where(at_risk, trng.normal(0.48, 0.1, n), trng.normal(0.68, 0.12, n)), 0.12, 0.98)
    cutoff = np.full(n, np.iinfo(np.int64).max)
    leavers = (enrol == 2) | (enrol == 3)
    cutoff[leavers] = trng.integers(1, max(2, len(days)), int(leavers.sum()))

    n_unknown = max(5, math.ceil(cfg.unknown_student_share * n * 2))
    unknown = [f"S{10**swidth - 1 - k:0{swidth}d}" for k in range(n_unknown)]
    vocab = pa.array(sid_list + unknown + [""], LSTR)
    traits = _StudentTraits(
        ids=vocab,
        n_real=n,
        register_order=np.lexsort((np.arange(n), class_of)),
        class_index=class_of,
        cutoff=cutoff,
        p_absent=p_absent,
        p_late=p_late,
        p_excused=p_excused,
        ability=ability,
    )
    return Dataset(
        config=cfg,
        programmes=programmes,
        classes=classes,
        students=students,
        late_student_ids=[sid_list[i] for i in late_idx],
        unknown_student_ids=unknown,
        school_days=days,
        _traits=traits,
    )


def _count(share: float, rows: int, minimum: int) -> int:
    """How many rows get an injected problem: the share, but at least `minimum` when the share is not zero."""
    if share <= 0 or rows <= 0:
        return 0
    return min(rows, max(minimum, round(share * rows)))


# --- rendering helpers ---------------------------------------------------------------------------


def _s(value: str) -> pa.Scalar:
    return pa.scalar(value, LSTR)


def _cat(*parts) -> pa.Array:
    """Element-wise concatenation of string arrays and literal strings."""
    return pc.binary_join_element_wise(*[_s(p) if isinstance(p, str) else p for p in parts], _s(""))


def _joined_bytes(lines: pa.Array, sep: str) -> bytes:
    """`sep.join(lines)` without a Python string per row: the values of a string array are contiguous."""
    if len(lines) == 0:
        return b""
    arr = _cat(lines, sep).cast(LSTR)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = memoryview(arr.buffers()[2])[offsets[0] : offsets[-1]]
    return bytes(data[: len(data) - len(sep.encode())])


def _idx(a: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(a, dtype=np.int64))


def _number_text(values: np.ndarray, as_float: np.ndarray) -> pa.Array:
    """Scores as JSON number literals: whole numbers as `45` or `45.0`, halves as `37.5`."""
    whole = np.trunc(values)
    frac = values - whole
    ints = pa.array(whole.astype(np.int64)).cast(LSTR)
    suffix = np.where(frac != 0, ".5", np.where(as_float, ".0", ""))
    return _cat(ints, pa.array(suffix, LSTR))


# --- deliveries -------------------------------------------------------------------------------

Frame = dict[str, np.ndarray]


def _concat(frames: list[Frame]) -> Frame:
    frames = [f for f in frames if f and len(next(iter(f.values())))]
    if not frames:
        return {}
    return {k: np.concatenate([f[k] for f in frames]) for k in frames[0]}


def _take(frame: Frame, idx: np.ndarray) -> Frame:
    return {k: v[idx] for k, v in frame.items()}


def _rows(frame: Frame) -> int:
    return len(next(iter(frame.values()))) if frame else 0


class _DeliveryBuilder:
    """Builds deliveries in order, carrying the rows later deliveries may restate."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self.cfg = ds.config
        self.t = ds._traits
        days = ds.school_days
        self.n_days = len(days)
        self.iso = pa.array([d.isoformat() for d in days], LSTR)
        self.compact = pa.array([d.strftime("%Y%m%d") for d in days], LSTR)
        # Date vocabulary: ISO dates, then the same days written day-first, then fixed bad values.
        feb30 = f"{days[-1].year}-02-30"
        bad_fixed = [feb30, "", f"{days[0].year}-13-01", f"{days[0].year}-09-31", "not recorded"]
        self.date_vocab = pa.array(
            [d.isoformat() for d in days] + [d.strftime("%d/%m/%Y") for d in days] + bad_fixed, LSTR
        )
        self.bad_fixed0 = 2 * self.n_days
        self.n_bad_fixed = len(bad_fixed)
        self.status_vocab = pa.array(STATUS_VOCAB, LSTR)
        self.subjects = pa.array(SUBJECTS, LSTR)
        self.score_words = pa.array(BAD_SCORE_WORDS, LSTR)
        self.n_unknown = len(ds.unknown_student_ids)
        self.assessment_seq = 0
        # Restatement candidates from earlier deliveries: rows that were sent
        # bad (with their corrected values) and a sample of good rows.
        self.pool: dict[str, dict[str, Frame]] = {
            "attendance": {"fixable": {}, "good": {}},
            "assessments": {"fixable": {}, "good": {}},
        }

    def run(self) -> Iterator[GeneratedDelivery]:
        for k, code in enumerate(self.ds.delivery_codes):
            lo = k * self.cfg.days_per_delivery
            block = np.arange(lo, lo + self.cfg.days_per_delivery)
            files_a, stats_a = self._attendance(k, block)
            files_m, stats_m = self._assessments(k, block)
            yield GeneratedDelivery(
                code=code, files=files_a + files_m, stats={"attendance": stats_a, "assessments": stats_m}
            )

    # -- shared steps --------------------------------------------------------------------

    def _bad_date_codes(self, rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
        """Half written day-first (19/09/2025), half from the fixed list (impossible, empty, junk)."""
        dayfirst = rng.random(len(day)) < 0.5
        fixed = self.bad_fixed0 + rng.integers(0, self.n_bad_fixed, len(day))
        return np.where(dayfirst, self.n_days + day, fixed)

    def _restatements(self, rng, source: str, n_rows: int, fix, brk, change) -> tuple[Frame, dict[str, int]]:
        """Rows of earlier deliveries sent again: fixed, broken or just changed."""
        pool = self.pool[source]
        r = _count(self.cfg.restatement_share / 3, n_rows, self.cfg.min_injected)
        out: list[Frame] = []
        stats = {"restated_fix": 0, "restated_break": 0, "restated_change": 0}
        for pool_name, how, kind in (("fixable", fix, "restated_fix"), ("good", brk, "restated_break"),
                                     ("good", change, "restated_change")):
            avail = _rows(pool[pool_name])
            take = min(r, avail)
            if take == 0:
                continue
            pick = rng.choice(avail, size=take, replace=False)
            rows = how(rng, _take(pool[pool_name], pick))
            keep = np.ones(avail, bool)
            keep[pick] = False
            pool[pool_name] = _take(pool[pool_name], keep)
            out.append(rows)
            stats[kind] = take
        return _concat(out), stats

    def _remember(self, rng, source: str, fixable: Frame, good: Frame, n_rows: int) -> None:
        pool = self.pool[source]
        pool["fixable"] = _concat([pool["fixable"], fixable])
        # Enough good rows for the remaining deliveries' breaks and changes.
        want = min(_rows(good), 4 * _count(self.cfg.restatement_share / 3, n_rows, self.cfg.min_injected))
        pick = rng.choice(_rows(good), size=want, replace=False) if want else np.array([], np.int64)
        pool["good"] = _concat([pool["good"], _take(good, np.sort(pick))])

    @staticmethod
    def _sorted_per_file(frame: Frame, n_files: int) -> list[np.ndarray]:
        order = np.lexsort((frame["pos"], frame["file"]))
        files = frame["file"][order]
        bounds = np.searchsorted(files, np.arange(n_files + 1))
        return [order[bounds[i] : bounds[i + 1]] for i in range(n_files)]

    # -- attendance -----------------------------------------------------------------------

    def _attendance(self, k: int, block: np.ndarray) -> tuple[list[GeneratedFile], dict[str, int]]:
        cfg, t = self.cfg, self.t
        rng = _rng(cfg, _ATTENDANCE, k)
        lrng = _rng(cfg, _LAYOUT, k)
        # One register row per student per school day, in class order, until a leaver's last day.
        order = t.register_order
        who = np.tile(order, len(block))
        day = np.repeat(block, len(order))
        keep = t.cutoff[who] > day
        who, day = who[keep], day[keep]
        n = len(who)
        u = rng.random(n)
        pa_, pl, pe = t.p_absent[who], t.p_late[who], t.p_excused[who]
        status = np.where(u < pa_, 2, np.where(u < pa_ + pl, 1, np.where(u < pa_ + pl + pe, 3, 0)))
        base: Frame = {
            "day": day, "who": who, "sid": who.copy(), "date": day.copy(), "status": status,
            "aid_empty": np.zeros(n, bool),
        }

        n_files = (1, 2, 3)[k] if k < 3 else int(lrng.integers(1, 4))
        # Registers are exported per group of classes; with too few classes, per day instead.
        n_classes = len(self.ds.classes)
        base["file"] = (t.class_index[who] if n_classes >= 2 * n_files else day) % n_files
        base["pos"] = np.arange(n, dtype=np.float64)

        # Problems injected in place, on disjoint sets of rows.
        counts = {
            "missing_key": _count(cfg.missing_key_share, n, cfg.min_injected),
            "bad_date": _count(cfg.bad_date_share, n, cfg.min_injected),
            "bad_status": _count(cfg.bad_status_share, n, cfg.min_injected),
            "messy": _count(cfg.messy_share, n, cfg.min_injected),
        }
        perm = rng.permutation(n)
        sets: dict[str, np.ndarray] = {}
        at = 0
        for kind, c in counts.items():
            sets[kind] = np.sort(perm[at : at + c])
            at += c
        touched = np.zeros(n, bool)
        touched[perm[:at]] = True

        mk = sets["missing_key"]
        no_id = rng.random(len(mk)) < 0.5
        base["aid_empty"][mk[no_id]] = True
        base["sid"][mk[~no_id]] = t.empty_code
        fixable_idx = np.concatenate([sets["bad_date"], sets["bad_status"]])
        fixable = _take(base, np.sort(fixable_idx))
        base["date"][sets["bad_date"]] = self._bad_date_codes(rng, base["day"][sets["bad_date"]])
        base["status"][sets["bad_status"]] = _BAD_STATUS0 + rng.integers(0, len(BAD_STATUSES), counts["bad_status"])
        ms = sets["messy"]
        base["status"][ms] = _MESSY0 + base["status"][ms] * 3 + rng.integers(0, 3, len(ms))

        file_len = np.bincount(base["file"], minlength=n_files).astype(np.float64)

        # Rows from students the SIS has never heard of.
        m = _count(cfg.unknown_student_share, n, cfg.min_injected)
        uw = t.n_real + rng.integers(0, self.n_unknown, m)
        ud = rng.choice(block, m)
        unknown: Frame = {
            "day": ud, "who": uw, "sid": uw.copy(), "date": ud.copy(), "status": rng.integers(0, 4, m),
            "aid_empty": np.zeros(m, bool), "file": rng.integers(0, n_files, m),
        }
        unknown["pos"] = rng.random(m) * file_len[unknown["file"]]
        # The same id (unknown student, day) drawn twice would be an accidental duplicate.
        _, first_of = np.unique(unknown["day"] * len(t.ids) + unknown["who"], return_index=True)
        unknown = _take(unknown, np.sort(first_of))

        # Duplicates later in the same file: half identical, half with another status.
        clean = np.flatnonzero(~touched)
        d = min(len(clean), _count(cfg.duplicate_share, n, cfg.min_injected))
        src = np.sort(rng.choice(clean, size=d, replace=False))
        dup = _take(base, src)
        change = rng.random(d) < 0.5
        dup["status"] = np.where(change, (dup["status"] + rng.integers(1, 4, d)) % 4, dup["status"])
        dup["pos"] = dup["pos"] + 0.5 + rng.random(d) * (file_len[dup["file"]] - dup["pos"] - 0.5)

        def fix(rng, rows: Frame) -> Frame:
            return rows

        def brk(rng, rows: Frame) -> Frame:
            m = _rows(rows)
            by_date = rng.random(m) < 0.3
            rows["date"] = np.where(by_date, self._bad_date_codes(rng, rows["day"]), rows["date"])
            rows["status"] = np.where(by_date, rows["status"], _BAD_STATUS0 + rng.integers(0, len(BAD_STATUSES), m))
            return rows

        def chg(rng, rows: Frame) -> Frame:
            # Typically an absence later explained: absent -> excused; otherwise any other status.
            m = _rows(rows)
            other = (rows["status"] + rng.integers(1, 4, m)) % 4
            rows["status"] = np.where(rows["status"] == 2, 3, other)
            return rows

        restated, rstats = self._restatements(rng, "attendance", n, fix, brk, chg)
        if restated:
            r = _rows(restated)
            restated["file"] = rng.integers(0, n_files, r)
            restated["pos"] = rng.random(r) * file_len[restated["file"]]

        good = _take(base, np.flatnonzero(~touched))
        self._remember(rng, "attendance", {**fixable}, good, n)

        frame = _concat([base, unknown, dup, restated])
        extra_col = [(k == 1 and f == 0) or (k >= 2 and lrng.random() < 0.3) for f in range(n_files)]
        names = ["attendance.csv"] if n_files == 1 else [f"attendance_{'abc'[f]}.csv" for f in range(n_files)]
        files = []
        for f, idx in enumerate(self._sorted_per_file(frame, n_files)):
            files.append(self._render_attendance(_take(frame, idx), names[f], extra_col[f]))
        stats = {"rows": sum(f.rows for f in files), **counts, "unknown_student": _rows(unknown),
                 "duplicate": d, **rstats}
        stats["late_student_rows"] = int(np.isin(frame["who"], self._late_codes()).sum())
        return files, stats

    def _late_codes(self) -> np.ndarray:
        if not hasattr(self, "_late"):
            pos = {sid: i for i, sid in enumerate(self.ds.students["student_id"])}
            self._late = np.array([pos[s] for s in self.ds.late_student_ids], dtype=np.int64)
        return self._late

    def _render_attendance(self, fr: Frame, name: str, extra: bool) -> GeneratedFile:
        ids = self.t.ids
        aid = _cat("A", self.compact.take(_idx(fr["day"])), "-", ids.take(_idx(fr["who"])))
        aid = pc.if_else(pa.array(fr["aid_empty"]), _s(""), aid)
        cols = [aid, ids.take(_idx(fr["sid"])), self.date_vocab.take(_idx(fr["date"])),
                self.status_vocab.take(_idx(fr["status"]))]
        header = ",".join(ATTENDANCE_HEADER)
        if extra:
            # A register export that also names the tutor; readers must ignore it.
            cls = self.t.class_index[np.minimum(fr["who"], self.t.n_real - 1)]
            tutor = pa.array(np.char.add("T", np.char.zfill((cls % 97 + 1).astype(str), 3)), LSTR)
            cols.append(tutor)
            header += ",recorded_by"
        parts = []
        for i, c in enumerate(cols):
            if i:
                parts.append(",")
            parts.append(c)
        lines = _cat(*parts)
        body = _joined_bytes(lines, "\n")
        data = (header + "\n").encode() + body + (b"\n" if body else b"")
        return GeneratedFile(name=name, source="attendance", data=data, rows=len(lines))

    # -- assessments ------------------------------------------------------------------------

    def _assessments(self, k: int, block: np.ndarray) -> tuple[list[GeneratedFile], dict[str, int]]:
        cfg, t = self.cfg, self.t
        rng = _rng(cfg, _ASSESSMENTS, k)
        lrng = _rng(cfg, _LAYOUT, 1000 + k)
        lam = cfg.assessments_per_month * len(block) / 20.0
        start = block[0]
        active = np.flatnonzero(t.cutoff[: t.n_real] > start)
        per = rng.poisson(lam, len(active))
        who = np.repeat(active, per)
        span = np.minimum(len(block), t.cutoff[who] - start)
        day = start + (rng.random(len(who)) * span).astype(np.int64)
        order = np.lexsort((who, day))
        who, day = who[order], day[order]
        n = len(who)
        maxs = rng.choice(MAX_SCORES, size=n, p=MAX_SCORE_WEIGHTS).astype(np.float64)
        frac = np.clip(rng.normal(t.ability[who], 0.15), 0, 1)
        halves = (maxs <= 25) & (rng.random(n) < 0.3)
        score = np.where(halves, np.round(frac * maxs * 2) / 2, np.round(frac * maxs))
        base: Frame = {
            "seq": self.assessment_seq + np.arange(1, n + 1),
            "who": who, "sid": who.copy(), "sid_omit": np.zeros(n, bool), "aid_empty": np.zeros(n, bool),
            "day": day, "date": day.copy(), "subject": rng.integers(0, len(SUBJECTS), n),
            "score": score, "score_kind": rng.choice(3, size=n, p=[0.7, 0.15, 0.15]),
            "max": maxs, "max_kind": rng.choice(3, size=n, p=[0.8, 0.1, 0.1]),
            "word": np.full(n, -1),
        }
        self.assessment_seq += n

        # File layout: one file, or coursework and exams; .json arrays or .jsonl.
        if k == 0:
            layout = [("assessments", ".json")]
        elif k == 1:
            layout = [("assessments", ".jsonl")]
        elif k == 2:
            layout = [("assessments_coursework", ".jsonl"), ("assessments_exams", ".json")]
        elif lrng.random() < 0.6:
            layout = [("assessments", (".json", ".jsonl")[int(lrng.integers(0, 2))])]
        else:
            layout = [("assessments_coursework", ".jsonl"), ("assessments_exams", (".json", ".jsonl")[int(lrng.integers(0, 2))])]
        n_files = len(layout)
        base["file"] = (rng.random(n) < 0.3).astype(np.int64) if n_files == 2 else np.zeros(n, np.int64)
        base["pos"] = np.arange(n, dtype=np.float64)

        counts = {
            "missing_key": _count(cfg.missing_key_share, n, cfg.min_injected),
            "bad_date": _count(cfg.bad_date_share, n, cfg.min_injected),
            "bad_score": _count(cfg.bad_score_share, n, cfg.min_injected),
        }
        perm = rng.permutation(n)
        sets, at = {}, 0
        for kind, c in counts.items():
            sets[kind] = np.sort(perm[at : at + c])
            at += c
        touched = np.zeros(n, bool)
        touched[perm[:at]] = True

        mk = sets["missing_key"]
        how = rng.integers(0, 3, len(mk))  # 0: empty id, 1: empty student_id, 2: student_id left out
        base["aid_empty"][mk[how == 0]] = True
        base["sid"][mk[how >= 1]] = t.empty_code
        base["sid_omit"][mk[how == 2]] = True
        fixable = _take(base, np.sort(np.concatenate([sets["bad_date"], sets["bad_score"]])))
        base["date"][sets["bad_date"]] = self._bad_date_codes(rng, base["day"][sets["bad_date"]])
        self._break_scores(rng, base, sets["bad_score"])
        file_len = np.bincount(base["file"], minlength=n_files).astype(np.float64)

        m = _count(cfg.unknown_student_share, n, cfg.min_injected)
        unknown = _take(base, rng.choice(np.flatnonzero(~touched), size=min(m, int((~touched).sum())), replace=False))
        m = _rows(unknown)
        unknown["seq"] = self.assessment_seq + np.arange(1, m + 1)
        self.assessment_seq += m
        unknown["who"] = t.n_real + rng.integers(0, self.n_unknown, m)
        unknown["sid"] = unknown["who"].copy()
        unknown["pos"] = rng.random(m) * file_len[unknown["file"]]

        clean = np.flatnonzero(~touched)
        d = min(len(clean), _count(cfg.duplicate_share, n, cfg.min_injected))
        dup = _take(base, np.sort(rng.choice(clean, size=d, replace=False)))
        regrade = rng.random(d) < 0.5
        dup["score"] = np.where(regrade, np.clip(dup["score"] + rng.integers(-3, 4, d), 0, dup["max"]), dup["score"])
        dup["pos"] = dup["pos"] + 0.5 + rng.random(d) * (file_len[dup["file"]] - dup["pos"] - 0.5)

        def fix(rng, rows: Frame) -> Frame:
            return rows

        def brk(rng, rows: Frame) -> Frame:
            self._break_scores(rng, rows, np.arange(_rows(rows)))
            return rows

        def chg(rng, rows: Frame) -> Frame:
            # A re-mark: the score moves by a few points, staying in range.
            m = _rows(rows)
            rows["score"] = np.clip(rows["score"] + rng.integers(1, 6, m) * rng.choice([-1, 1], m), 0, rows["max"])
            return rows

        restated, rstats = self._restatements(rng, "assessments", n, fix, brk, chg)
        if restated:
            r = _rows(restated)
            restated["file"] = rng.integers(0, n_files, r)
            restated["pos"] = rng.random(r) * file_len[restated["file"]]
        self._remember(rng, "assessments", fixable, _take(base, clean), n)

        frame = _concat([base, unknown, dup, restated])
        files = []
        for f, idx in enumerate(self._sorted_per_file(frame, n_files)):
            stem, ext = layout[f]
            files.append(self._render_assessments(_take(frame, idx), stem + ext))
        stats = {"rows": sum(f.rows for f in files), **counts, "unknown_student": m, "duplicate": d, **rstats}
        stats["late_student_rows"] = int(np.isin(frame["who"], self._late_codes()).sum())
        return files, stats

    def _break_scores(self, rng, fr: Frame, idx: np.ndarray) -> None:
        """Make these rows fail the score rule: a word, max_score 0, a negative score or one above max."""
        how = rng.integers(0, 4, len(idx))
        w = idx[how == 0]
        fr["word"][w] = rng.integers(0, len(BAD_SCORE_WORDS), len(w))
        z = idx[how == 1]
        fr["max"][z] = 0
        fr["max_kind"][z] = 0
        neg = idx[how == 2]
        fr["score"][neg] = -rng.integers(1, 6, len(neg)).astype(np.float64)
        over = idx[how == 3]
        fr["score"][over] = fr["max"][over] + rng.integers(1, 11, len(over))

    def _render_assessments(self, fr: Frame, name: str) -> GeneratedFile:
        ids = self.t.ids
        n = _rows(fr)
        aid = pc.utf8_lpad(pa.array(fr["seq"]).cast(pa.string()), 8, "0").cast(LSTR)
        aid = pc.if_else(pa.array(fr["aid_empty"]), _s(""), _cat("AS", aid))
        student = _cat('"student_id": "', ids.take(_idx(fr["sid"])), '", ')
        student = pc.if_else(pa.array(fr["sid_omit"]), _s(""), student)

        def literal(values: np.ndarray, kind: np.ndarray) -> pa.Array:
            text = _number_text(values, kind == 1)
            return pc.if_else(pa.array(kind == 2), _cat('"', text, '"'), text)

        score = literal(fr["score"], fr["score_kind"])
        words = fr["word"] >= 0
        if words.any():
            word_text = _cat('"', self.score_words.take(_idx(np.maximum(fr["word"], 0))), '"')
            score = pc.if_else(pa.array(words), word_text, score)
        lines = _cat(
            '{"assessment_id": "', aid, '", ', student,
            '"subject": "', self.subjects.take(_idx(fr["subject"])), '", "score": ', score,
            ', "max_score": ', literal(fr["max"], fr["max_kind"]),
            ', "assessed_on": "', self.date_vocab.take(_idx(fr["date"])), '"}',
        )
        if name.endswith(".jsonl"):
            body = _joined_bytes(lines, "\n")
            data = body + (b"\n" if n else b"")
        else:
            data = b"[\n" + _joined_bytes(lines, ",\n") + (b"\n]\n" if n else b"]\n")
        return GeneratedFile(name=name, source="assessments", data=data, rows=n)
