"""The `eduwh` command: `run`, `generate`, `backfill`.

Each subcommand lives beside the code it drives and registers itself through
an `add_parser(subparsers)` function that sets `func(args, settings) -> int`.
"""

from __future__ import annotations

import argparse
import sys

from eduwh_assets.config import Settings
from eduwh_assets.sources.landing import DELIVERY_CODE_PATTERN, is_valid_delivery_code


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


def build_parser() -> argparse.ArgumentParser:
    from eduwh_assets import run
    from eduwh_assets.automation import backfill as backfill_command
    from eduwh_assets.generate import command as generate_command

    parser = argparse.ArgumentParser(prog="eduwh", description="eduwh: education data warehouse on Dagster")
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    generate_command.add_parser(sub)
    backfill_command.add_parser(sub)
    return parser


def quiet_library_warnings() -> None:
    """Libraries' notices about their own APIs (beta, preview, a runtime folder) are for eduwh's
    developers, who see them in the test suite; a user of the command line gets none of them."""
    import warnings

    from dagster import BetaWarning, PreviewWarning, SupersessionWarning
    from platformdirs import RuntimeDirWarning

    for category in (BetaWarning, PreviewWarning, SupersessionWarning, RuntimeDirWarning):
        warnings.filterwarnings("ignore", category=category)


def main(argv: list[str] | None = None) -> int:
    quiet_library_warnings()  # before the parser imports the code location
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, Settings.from_env()) or 0)
    except UserError as exc:
        print(f"eduwh {args.command}: {exc}", file=sys.stderr)
        return 2
