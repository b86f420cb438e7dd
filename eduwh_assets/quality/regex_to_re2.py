"""Python `re` patterns rewritten for RE2, the regex dialect of DuckDB, so a Pandera rule means the same in SQL."""

from __future__ import annotations

import functools
import re
import sys


@functools.cache
def _python_whitespace_class() -> str:
    """Python's `\\s` (str.isspace, Unicode) as the body of an RE2 class; RE2's `\\s` is [\\t\\n\\f\\r ] only."""
    return "".join(f"\\x{{{c:X}}}" for c in range(sys.maxunicode + 1) if chr(c).isspace())


# Escapes whose meaning in Python (Unicode-aware) differs from RE2's (ASCII), or that RE2 lacks.
_UNTRANSLATED_ESCAPES = set("wWbB123456789N")


def re2_pattern(pattern: str) -> str:
    """A Python `re` pattern rewritten for RE2 (DuckDB's regexp functions) so both match the same strings.

    `\\d` is any Unicode decimal digit and `\\s` any Unicode space in Python, and
    `$` also matches before a final newline; RE2 reads all three more narrowly.
    What cannot be translated faithfully raises NotImplementedError, so a rule
    never silently means something else in SQL. Anchoring (re.match) is the caller's.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 == n:
                raise ValueError(f"pattern ends with a backslash: {pattern!r}")
            esc = pattern[i + 1]
            i += 2
            if esc == "d":
                out.append(r"\p{Nd}")
            elif esc == "D":
                out.append(r"\P{Nd}")
            elif esc == "s":
                out.append(_python_whitespace_class() if in_class else f"[{_python_whitespace_class()}]")
            elif esc == "S" and not in_class:
                out.append(f"[^{_python_whitespace_class()}]")
            elif esc == "Z" and not in_class:
                out.append(r"\z")
            elif esc in "uU":
                width = 4 if esc == "u" else 8
                out.append(f"\\x{{{pattern[i:i + width]}}}")
                i += width
            elif esc in _UNTRANSLATED_ESCAPES or esc == "S":
                raise NotImplementedError(f"\\{esc} has no faithful RE2 translation (pattern {pattern!r})")
            else:
                out.append("\\" + esc)
            continue
        if in_class:
            in_class = ch != "]"
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):  # a leading ] is a literal in both dialects
                out.append("]")
                i += 1
            continue
        if ch == "$":
            if i + 1 < n and pattern[i + 1] not in "|)":
                raise NotImplementedError(f"$ inside a pattern has no RE2 translation: {pattern!r}")
            out.append(r"(?:\n?\z)")
            i += 1
            continue
        if pattern.startswith("(?", i) and not (pattern.startswith("(?:", i) or pattern.startswith("(?P<", i)):
            raise NotImplementedError(f"group {pattern[i:i + 4]!r}... has no RE2 translation (pattern {pattern!r})")
        out.append(ch)
        i += 1
    return "".join(out)


def pattern_source(pattern) -> str:
    if isinstance(pattern, re.Pattern):
        if pattern.flags & ~re.UNICODE:
            raise NotImplementedError(f"regex flags have no translation: {pattern!r}")
        return pattern.pattern
    return pattern
