"""Where the time of one timed `eduwh run` went, read back from its Dagster instance.

    python -m benchmarks.phase SINCE     # SINCE: a Unix timestamp taken before the run

Prints one JSON line: each Dagster run created after SINCE, oldest first, with
its job, its wall time from start to end, and the wall time of each of its steps.
Run with the same DAGSTER_HOME as the timed command.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

from dagster import DagsterInstance, RunsFilter


def main(since: float) -> int:
    instance = DagsterInstance.get()
    records = instance.get_run_records(RunsFilter(created_after=datetime.fromtimestamp(since, timezone.utc)), ascending=True)
    runs = []
    for record in records:
        run_id = record.dagster_run.run_id
        stats = instance.get_run_stats(run_id)
        steps = {
            stat.step_key: stat.end_time - stat.start_time
            for stat in instance.get_run_step_stats(run_id)
            if stat.start_time and stat.end_time
        }
        seconds = stats.end_time - stats.start_time if stats.start_time and stats.end_time else 0.0
        runs.append({"job": record.dagster_run.job_name, "seconds": seconds, "steps": steps})
    print(json.dumps({"runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1])))
