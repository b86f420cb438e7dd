"""`eduwh generate`: write a synthetic data set to the SIS and/or the landing zone."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from eduwh_assets.cli.arguments import positive_int
from eduwh_assets.generate.config import DEFAULT_SCALE, SCALES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate",
        help="write synthetic SIS rows and deliveries",
        description="Write a deterministic synthetic data set: SIS tables and delivery folders, "
        "with a controlled share of bad, duplicate and restated rows.",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--scale", choices=list(SCALES), default=DEFAULT_SCALE, help=f"size (default {DEFAULT_SCALE})")
    p.add_argument("--attendance-rows", type=positive_int, help="size by about this many attendance rows instead")
    p.add_argument("--deliveries", type=positive_int, help="number of deliveries (default: the scale's)")
    p.add_argument("--landing", help="landing zone: path, file://, or az://container[/prefix] (default: EDUWH_LANDING)")
    p.add_argument("--sis-url", help="PostgreSQL URL of a SIS database to (re)create, "
                   "e.g. postgresql://user:pass@host:5432/sis (default: the embedded SIS)")
    p.add_argument("--no-sis", action="store_true", help="do not write the SIS")
    p.add_argument("--no-landing", action="store_true", help="do not write deliveries")
    p.add_argument("--late-students", action="store_true",
                   help="only add the held-back late students to the SIS (updated_at = now())")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, settings: Any) -> int:
    from eduwh_assets.bootstrap import sis_url
    from eduwh_assets.generate.config import GeneratorConfig
    from eduwh_assets.generate.dataset import generate
    from eduwh_assets.generate.writers import add_late_students, write_landing, write_sis
    from eduwh_assets.sources.sis_server import SisUrlError, redact_url, sqlalchemy_url

    write_db = not args.no_sis or args.late_students
    if write_db and not args.sis_url and settings.sis_url:
        # EDUWH_SIS_URL names the institution's SIS, which eduwh only ever reads.
        print("error: EDUWH_SIS_URL is set and eduwh never writes to that SIS; "
              "name the database to (re)create with --sis-url, or pass --no-sis", file=sys.stderr)
        return 2
    target = None
    if write_db and args.sis_url:
        # Checked before generating, which can take minutes at the large scales.
        try:
            target = sqlalchemy_url(args.sis_url)
        except SisUrlError as exc:
            print(f"error: --sis-url: {exc}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    cfg = GeneratorConfig.for_scale(
        args.scale, args.seed, attendance_rows=args.attendance_rows, deliveries=args.deliveries
    )
    dataset = generate(cfg)
    print(
        f"generate: scale={cfg.scale} seed={cfg.seed} students={cfg.students} deliveries={cfg.deliveries} "
        f"school_days={cfg.school_days} ({dataset.delivery_codes[0]} .. {dataset.delivery_codes[-1]})"
    )

    url = None
    if write_db:
        url = target or sis_url(settings)
    if args.late_students:
        added = add_late_students(dataset, url)
        print(f"SIS {redact_url(url)}: added {added} late students")
        return 0

    if write_db:
        t0 = time.perf_counter()
        counts = write_sis(dataset, url)
        print(f"SIS {redact_url(url)}: " + ", ".join(f"sis.{t} {n} rows" for t, n in counts.items())
              + f" ({len(dataset.late_student_ids)} late students held back) in {time.perf_counter() - t0:.1f}s")

    if not args.no_landing:
        landing = args.landing or settings.landing
        t0 = time.perf_counter()
        totals = {"attendance": 0, "assessments": 0}
        n = 0
        for delivery in write_landing(dataset, landing, settings.azure_connection_string):
            n += 1
            parts = []
            for f in delivery.files:
                totals[f.source] += f.rows
                parts.append(f"{f.name} {f.rows}")
            print(f"  {delivery.code}: " + ", ".join(parts))
        print(
            f"landing {redact_url(landing)}: {n} deliveries, {totals['attendance']} attendance rows, "
            f"{totals['assessments']} assessment rows in {time.perf_counter() - t0:.1f}s"
        )
    print(f"done in {time.perf_counter() - started:.1f}s")
    return 0
