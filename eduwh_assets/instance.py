"""The Dagster instance that `eduwh` commands record their runs in (the one `dagster dev` shows)."""

from __future__ import annotations

import os
import shutil

from dagster import DagsterInstance

from eduwh_assets.config import PROJECT_ROOT, Settings


def dagster_instance(settings: Settings) -> DagsterInstance:
    """The instance at settings.dagster_home, given the project's dagster.yaml if it has none."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.from_config(str(home))
