"""automation: jobs, the sensors that react to new data, the schedules that keep time. See docs/operations.md."""

from dagster import Definitions

from eduwh_assets.automation.jobs import jobs
from eduwh_assets.automation.schedules import schedules
from eduwh_assets.automation.sensors import sensors

# Everything this package contributes to the code location; definitions.py merges it.
defs = Definitions(jobs=jobs, sensors=sensors, schedules=schedules)
