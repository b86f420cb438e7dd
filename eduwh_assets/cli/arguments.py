"""What every subcommand shares: the error a user can fix, and argparse types that refuse bad values early."""

from __future__ import annotations

import argparse

from eduwh_assets.sources.landing import DELIVERY_CODE_PATTERN, is_valid_delivery_code


# The exit status of a command stopped by Ctrl-C or SIGTERM, as a shell reports an interrupted job.
STOPPED_STATUS = 130


class UserError(ValueError):
    """Something the user can fix. Printed on stderr as one line; exit status 2; no traceback."""


def delivery_code(value: str) -> str:
    """argparse type for a delivery code, so a bad one is refused before anything runs."""
    if not is_valid_delivery_code(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a delivery code ({DELIVERY_CODE_PATTERN.pattern})")
    return value


def positive_int(value: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number
