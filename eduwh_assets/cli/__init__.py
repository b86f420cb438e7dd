"""The `eduwh` command: `run`, `generate`, `backfill`.

Each subcommand is a module of this package with an `add_parser(subparsers)`
function that sets `func(args, settings) -> int`. A subcommand's module is
imported only when the parser is built, so `eduwh --help` stays quick.
"""

from __future__ import annotations

import argparse
import sys

from eduwh_assets.cli.arguments import STOPPED_STATUS, UserError
from eduwh_assets.cli.disk_space import full_disk_advice, ran_out_of_space
from eduwh_assets.config import Settings


def build_parser() -> argparse.ArgumentParser:
    from eduwh_assets.cli import backfill, generate, run

    parser = argparse.ArgumentParser(prog="eduwh", description="eduwh: education data warehouse on Dagster")
    sub = parser.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    generate.add_parser(sub)
    backfill.add_parser(sub)
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
    settings = None
    try:
        settings = Settings.from_env()
        status = int(args.func(args, settings) or 0)
    except UserError as exc:
        print(f"eduwh {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # A full disk fails whatever was writing, often deep inside a library: name the cause.
        advice = full_disk_advice(settings, args.command, exc) if settings else None
        if advice is None:
            raise
        print(f"eduwh {args.command}: {advice}", file=sys.stderr)
        if not ran_out_of_space(exc, disk_is_low=True):
            raise  # a disk is nearly full, but this error may have another cause: keep its traceback
        return 2
    if status not in (0, STOPPED_STATUS):
        advice = full_disk_advice(settings, args.command)
        if advice is not None:
            print(f"eduwh {args.command}: {advice}", file=sys.stderr)
    return status
