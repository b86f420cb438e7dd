"""The terminal while `eduwh run` works: one line per Dagster step, progress on the long ones, nothing else.

Dagster's own console logger prints every engine event; the UI keeps those. The
`step_lines` logger instead collects each step's events and prints one line when
the step ends: what it materialised, the rows it loaded, its checks, and how long
it took. Long steps report progress as they go: dbt's models one by one, and the
delivery loads file by file (`context.log.info(..., extra=PROGRESS)`). On a
terminal a progress line is overwritten by the next; elsewhere (CI, a log file)
progress is a plain line at most every PLAIN_PROGRESS_SECONDS, enough to show
the work is moving without a line per file.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import TextIO

from dagster import AssetCheckSeverity, DagsterEventType, logger

# Passed as `extra` to `context.log.info` for a message that is progress on a long step.
PROGRESS = {"eduwh_progress": True}
# The step console's logger key in a run's config.
LOGGER_KEY = "eduwh_steps"
# The run config that selects it, in place of Dagster's console.
STEP_LINES = {"loggers": {LOGGER_KEY: {}}}
PLAIN_PROGRESS_SECONDS = 10.0


class Console:
    """Where eduwh's lines go; progress lines replace each other on a terminal."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.interactive = stream.isatty()
        self.progress_shown = False
        self.last_plain_progress = 0.0

    def line(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def progress(self, text: str) -> None:
        if not self.interactive:
            now = time.monotonic()
            if now - self.last_plain_progress >= PLAIN_PROGRESS_SECONDS:
                self.last_plain_progress = now
                self.line(text)
            return
        self._clear()
        self.stream.write(text[: 200])
        self.stream.flush()
        self.progress_shown = True

    def _clear(self) -> None:
        if self.progress_shown:
            self.stream.write("\r\x1b[K")
            self.progress_shown = False


# The console of the run executing in this process; `step_lines` writes to it.
_active: Console | None = None


@contextmanager
def active_console(console: Console) -> Iterator[Console]:
    global _active
    previous, _active = _active, console
    try:
        yield console
    finally:
        _active = previous


@dataclass
class StepFigures:
    """What one step did, gathered from its events."""

    assets: set[str] = field(default_factory=set)
    rows_loaded: int | None = None
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)  # "<check> failed" or "<check> warned"

    def summary(self) -> str:
        parts = []
        if self.assets:
            parts.append(f"{len(self.assets)} asset{'s' if len(self.assets) != 1 else ''}")
        if self.rows_loaded is not None:
            parts.append(f"{self.rows_loaded:,} rows loaded")
        checks = self.checks_passed + len(self.checks_failed)
        if checks and not self.checks_failed:
            parts.append(f"{checks} check{'s' if checks != 1 else ''} passed")
        elif checks:
            parts.append(", ".join([*([f"{self.checks_passed} passed"] if self.checks_passed else []), *self.checks_failed]))
        return "; ".join(parts)


class StepLines(logging.Handler):
    """A Dagster run's log records -> one line per finished step, progress lines, warnings and errors."""

    def __init__(self, console: Console):
        super().__init__(level=logging.DEBUG)
        self.console = console
        self.steps: dict[str, StepFigures] = defaultdict(StepFigures)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            message = meta.get("orig_message", record.getMessage())
            if getattr(record, "eduwh_progress", False):
                self.console.progress(f"  {meta.get('step_key') or ''}: {message}")
            elif record.levelno >= logging.WARNING:
                self.console.line(f"  {record.levelname.lower()}: {message}")
            return
        step, kind = event.step_key, event.event_type
        if kind == DagsterEventType.ASSET_MATERIALIZATION:
            figures = self.steps[step]
            materialization = event.event_specific_data.materialization
            figures.assets.add(materialization.asset_key.to_user_string())
            loaded = materialization.metadata.get("rows_loaded")
            if loaded is not None:
                figures.rows_loaded = (figures.rows_loaded or 0) + int(loaded.value)
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.partition is not None:
                return  # a range run's per-delivery verdicts repeat the run's own
            if evaluation.passed:
                self.steps[step].checks_passed += 1
            else:
                verdict = "failed" if evaluation.severity == AssetCheckSeverity.ERROR else "warned"
                self.steps[step].checks_failed.append(f"{evaluation.check_name} {verdict}")
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            figures = self.steps.pop(step, StepFigures())
            seconds = event.event_specific_data.duration_ms / 1000 if kind == DagsterEventType.STEP_SUCCESS else None
            status = "ok" if kind == DagsterEventType.STEP_SUCCESS else "FAILED"
            took = f" ({seconds:.1f}s)" if seconds is not None else ""
            self.console.line(f"  {step:<52} {status:<6} {figures.summary()}{took}".rstrip())
        elif kind == DagsterEventType.STEP_SKIPPED:
            self.console.line(f"  {step:<52} skipped (an upstream step failed)")


@logger(description="eduwh's terminal: one line per step with its figures and time, and progress on long steps.")
def step_lines(init_context) -> logging.Logger:
    out = logging.Logger(LOGGER_KEY, level=logging.DEBUG)
    out.addHandler(StepLines(_active or Console(sys.stdout)))
    return out


class DbtProgress(io.TextIOBase):
    """stdout while dbt runs: a progress line per model built or test failed, dbt's other lines dropped.

    dagster-dbt echoes every dbt line to stdout; dbt writes them all to its own log
    (`<data dir>/dbt/<layer>/dbt.log`), so nothing is lost, and `eduwh run --verbose`
    shows them as they come.
    """

    # "12 of 101 OK created sql table model silver.fact_attendance .... [OK in 0.80s]", and failures.
    SHOWN = re.compile(r"^\d+ of \d+ (OK created|OK loaded|ERROR|FAIL|WARN)")
    PROBLEM = re.compile(r"^\d+ of \d+ (ERROR|FAIL|WARN)")

    def __init__(self, console: Console):
        self.console = console
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            plain = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
            if self.SHOWN.match(plain):
                shown = "  dbt " + re.sub(r" \.{2,} ", " ", plain)
                # A failure stays on screen; a model built is progress, replaced by the next.
                self.console.line(shown) if self.PROBLEM.match(plain) else self.console.progress(shown)
        return len(text)


@contextmanager
def quiet_terminal(console: Console) -> Iterator[None]:
    """For the runs executed in this process meanwhile: step lines to `console`, and of dbt's output only its progress."""
    with active_console(console), redirect_stdout(DbtProgress(console)):
        yield
