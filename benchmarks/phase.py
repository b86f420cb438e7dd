"""One phase of the main job in its own process, so its time and peak memory are its own.

Prints one JSON line: the wall time of each Dagster step the phase ran.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from eduwh_assets.config import Settings
from eduwh_assets.cli.run import MainJob


def main(phase: str) -> int:
    job = MainJob.prepare(Settings.from_env())
    if phase == "sis":
        job.sync_sis()
    elif phase == "deliveries":
        job.ingest(job.discover())
    elif phase == "transform":
        job.transform()
    else:
        raise SystemExit(f"unknown phase {phase!r}")
    steps: dict[str, float] = defaultdict(float)
    for run_id in job.report.run_ids:
        for stat in job.instance.get_run_step_stats(run_id):
            if stat.start_time and stat.end_time:
                steps[stat.step_key] += stat.end_time - stat.start_time
    print(json.dumps({"steps": steps, "failed": job.report.failed}))
    return 1 if job.report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
