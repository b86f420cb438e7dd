"""Dagster's private APIs that eduwh relies on, imported in this one place.

Each has no public equivalent in the Dagster release eduwh pins (constraints.txt);
an upgrade that moves one breaks this module's import, not a command at run time.
"""

# `eduwh backfill` submits to the daemon exactly as `dagster job backfill` does.
from dagster._cli.job import execute_backfill_command
# `eduwh backfill` without a daemon, and the orchestration benchmark, load the job from the
# module as the daemon would, so its runs are the same reconstructable runs.
from dagster._core.definitions.reconstruct import ReconstructableRepository
# The orchestration benchmark reads sensor and schedule ticks by their kind.
from dagster._core.scheduler.instigation import InstigatorType
from dagster_shared.cli import WorkspaceOpts

# The deployment test validates the shipped dagster.yaml files against Dagster's own schema.
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.config import pg_config

__all__ = [
    "InstigatorType",
    "ReconstructableRepository",
    "WorkspaceOpts",
    "dagster_instance_config",
    "execute_backfill_command",
    "pg_config",
    "process_config",
]
