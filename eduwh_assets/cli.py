"""The `eduwh` command: `run`, `generate`, `backfill`.

Each subcommand lives beside the code it drives and registers itself through
an `add_parser(subparsers)` function that sets `func(args, settings) -> int`.
"""

from __future__ import annotations

import argparse
import sys

from eduwh_assets.config import Settings


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, Settings.from_env()) or 0)


if __name__ == "__main__":
    sys.exit(main())
