"""`eduwh backfill`: which deliveries a selection covers, and a real backfill run in the instance."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest
from dagster import AssetKey, DagsterInstance, RunsFilter

from eduwh_assets.cli import backfill
from eduwh_assets.cli.backfill import BackfillSelectionError, select_deliveries
from eduwh_assets.config import PROJECT_ROOT
from eduwh_tests.conftest import create_database, make_settings

KNOWN = ["2025-09-19", "2025-10-10", "2025-11-07", "2025-12-05"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="eduwh")
    backfill.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["backfill", *argv])


def select(*argv: str, known=KNOWN) -> list[str]:
    args = parse(*argv)
    return select_deliveries(known, all_deliveries=args.all, start=args.start, end=args.end, codes=args.delivery or ())


def test_selections_cover_the_deliveries_in_code_order():
    assert select("--all") == KNOWN
    assert select("--from", "2025-10-10", "--to", "2025-11-07") == ["2025-10-10", "2025-11-07"]
    # Bounds are compared as strings, so a month prefix selects that month's deliveries.
    assert select("--from", "2025-10", "--to", "2025-11-99") == ["2025-10-10", "2025-11-07"]
    assert select("--from", "2025-11-07") == ["2025-11-07", "2025-12-05"]
    assert select("--to", "2025-09-19") == ["2025-09-19"]
    assert select("--delivery", "2025-12-05", "--delivery", "2025-09-19", "--delivery", "2025-12-05") == [
        "2025-09-19",
        "2025-12-05",
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        ((), "choose exactly one of --all, --from/--to, --delivery"),
        (("--all", "--delivery", "2025-09-19"), "choose exactly one of --all, --from/--to, --delivery"),
        (("--delivery", "2025-09-19", "--delivery", "D9"), "unknown delivery code(s): D9; known: " + ", ".join(KNOWN)),
        (("--from", "2025-12", "--to", "2025-10"), "--from 2025-12 sorts after --to 2025-10"),
        (("--from", "2026"), "the selection matches no delivery"),
    ],
)
def test_bad_selections_are_refused(argv, message):
    with pytest.raises(BackfillSelectionError) as err:
        select(*argv)
    assert str(err.value) == message


def test_a_code_that_is_not_a_delivery_code_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse("--delivery", "../etc")
    assert exit_.value.code == 2
    assert "'../etc' is not a delivery code" in capsys.readouterr().err


def test_backfill_here_registers_and_ingests_the_chosen_deliveries(tmp_path, pg_admin_url):
    """With no daemon, the backfill runs in this process, in the instance, one run per delivery."""
    from eduwh_assets.generate import GeneratorConfig, generate, write_landing, write_sis

    dataset = generate(GeneratorConfig.for_scale("tiny", 5))
    sis_url = create_database(pg_admin_url)
    write_sis(dataset, sis_url)
    settings = make_settings(tmp_path, EDUWH_LANDING=str(tmp_path / "landing"), EDUWH_SIS_URL=sis_url)
    codes = [d.code for d in write_landing(dataset, settings.landing)]
    assert len(codes) == 3

    # A new process, as `eduwh backfill` is: the code location reads its settings at import,
    # so it must not be one this test process imported earlier with other settings.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EDUWH_", "DAGSTER_"))},
        "EDUWH_DATA_DIR": str(settings.data_dir),
        "EDUWH_LANDING": settings.landing,
        "EDUWH_SIS_URL": sis_url,
        "DAGSTER_HOME": str(settings.dagster_home),
    }
    script = (
        "import argparse, sys\n"
        "from eduwh_assets.cli import backfill\n"
        "from eduwh_assets.config import Settings\n"
        "p = argparse.ArgumentParser(prog='eduwh')\n"
        "backfill.add_parser(p.add_subparsers(dest='command', required=True))\n"
        "args = p.parse_args(sys.argv[1:])\n"
        "sys.exit(args.func(args, Settings.from_env()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "backfill", "--from", codes[1], "--mode", "here"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    assert "mode here" in out
    assert "2 succeeded, 0 failed" in out
    # One line per step of each run, with what it loaded; none of Dagster's engine events.
    assert len(re.findall(r"^  bronze__attendance +ok +1 asset; [\d,]+ rows loaded \(\d+\.\ds\)$", out, re.M)) == 2
    assert " - DEBUG - " not in out + proc.stderr and " - INFO - " not in out + proc.stderr

    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        # Every complete delivery is registered, whether or not this backfill covered it.
        assert sorted(instance.get_dynamic_partitions("deliveries")) == sorted(codes)
        runs = instance.get_runs(filters=RunsFilter(job_name="deliveries_job"))
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(codes[1:])
        assert all(r.tags[backfill.REQUEST_TAG] == runs[0].tags[backfill.REQUEST_TAG] for r in runs)
        for key in (AssetKey(["bronze", "attendance"]), AssetKey(["bronze", "assessments"])):
            assert sorted(instance.get_materialized_partitions(key)) == sorted(codes[1:])
