"""bronze: dlt ingestion into DuckDB schema `bronze`; see docs/architecture.md."""

from dagster import Definitions
from dagster_dlt import DagsterDltResource

from eduwh_assets.bronze.delivery_assets import assessments, attendance
from eduwh_assets.bronze.sis import sis_assets

# Everything this package contributes to the code location; definitions.py merges it.
defs = Definitions(assets=[sis_assets, attendance, assessments], resources={"dlt_resource": DagsterDltResource()})
