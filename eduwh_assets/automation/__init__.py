"""automation: see docs/architecture.md."""

from dagster import Definitions

from eduwh_assets.automation.jobs import jobs

# Everything this package contributes to the code location; definitions.py merges it.
defs = Definitions(jobs=jobs)
