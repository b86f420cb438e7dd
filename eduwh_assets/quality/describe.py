"""The one shape of every check's description: what it checks, when it matters, how to resolve it."""

from __future__ import annotations

PARTS = ("What", "When it matters", "How to resolve")


def check_description(what: str, when_it_matters: str, how_to_resolve: str) -> str:
    """Three labelled paragraphs; the UI shows them on the check's page and in the asset's check list."""
    return "\n\n".join(f"{label}: {text.strip()}" for label, text in zip(PARTS, (what, when_it_matters, how_to_resolve)))
