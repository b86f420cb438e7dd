"""The Dagster asset checks of the contracts: one `pandera_contract` check per warehouse table.

Bronze's checks warn, every later layer's block (`contract_severity`). No
`from __future__ import annotations` here: Dagster reads the check's `context`
annotation as a class when the check is defined.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    asset_check,
)

from eduwh_assets.partitions import deliveries_of_run
from eduwh_assets.quality.contracts import CONTRACTS
from eduwh_assets.quality.contracts.table import TableContract
from eduwh_assets.quality.describe import check_description
from eduwh_assets.quality.sql_validate import ValidationReport, validate_table
from eduwh_assets.warehouse import Warehouse, WarehouseMissing, on_warehouse

CHECK_NAME = "pandera_contract"


def run_contract_check(
    warehouse: Warehouse,
    contract: TableContract,
    severity: AssetCheckSeverity,
    deliveries: list[str] | None = None,
    where: str | None = None,
) -> AssetCheckResult:
    try:
        with warehouse.read_only_connection() as conn:
            report = validate_table(conn, contract, deliveries=deliveries, where=where)
    except WarehouseMissing as exc:
        report = ValidationReport(table=contract.table, problem=str(exc))
    return AssetCheckResult(
        passed=report.passed,
        severity=severity,
        description=report.summary,
        metadata=report.metadata(),
    )


def build_contract_check(
    contract: TableContract, *, blocking: bool, severity: AssetCheckSeverity
) -> AssetChecksDefinition:
    """One Pandera check on the asset under `contract.asset_key`, wherever that asset is defined."""

    @on_warehouse(asset_check)(
        asset=contract.asset_key,
        name=CHECK_NAME,
        blocking=blocking,
        # DuckDB lets no reader in while another process writes, so checks queue with the writers.
        description=contract_description(contract, blocking),
        metadata={"table": contract.table, "layer": contract.layer},
    )
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
        # In a delivery run, judge only the deliveries it loaded: the rest of the
        # table was checked when it was loaded, and rescanning it all is most of
        # an incremental run's cost at scale.
        deliveries = (
            deliveries_of_run(context.run.tags, context.instance) if contract.table in DELIVERY_TABLES else None
        )
        result = run_contract_check(warehouse, contract, severity, deliveries)
        context.log.info(result.description)
        return result

    return _check


def contract_description(contract: TableContract, blocking: bool) -> str:
    what = (
        f"the Pandera contract of {contract.table}: dtypes, allowed values, ranges, cross-column rules, "
        "unique keys and foreign keys. The result names each failed rule with its row count and sample rows."
    )
    if not blocking:
        return check_description(
            what,
            "bronze keeps values as received, so this warns and never blocks: silver quarantines the bad rows "
            "with a reason code and loads the rest.",
            "the quarantine tables and the reject exports list each bad row by delivery, file and row; fix them "
            "at the source and send a new delivery, whose rows supersede the old ones.",
        )
    return check_description(
        what,
        f"{contract.table} feeds what is built after it, so a failure blocks those assets in this run: "
        "nothing downstream is built from rows that break the contract.",
        "bad input is quarantined before silver, so a failure here means the build itself is wrong. "
        "Rebuild everything with `eduwh run --full-refresh`; if the rule still fails, report it with the "
        "sample rows from this check's metadata.",
    )


def contract_severity(contract: TableContract) -> tuple[bool, AssetCheckSeverity]:
    """Bronze keeps bad values by design, so its checks warn; every later layer guards integrity and blocks."""
    if contract.layer == "bronze":
        return False, AssetCheckSeverity.WARN
    return True, AssetCheckSeverity.ERROR


# Bronze tables partitioned by delivery.
DELIVERY_TABLES = {"bronze.attendance", "bronze.assessments"}

contract_checks: list[AssetChecksDefinition] = []
for _contract in CONTRACTS.values():
    _blocking, _severity = contract_severity(_contract)
    contract_checks.append(build_contract_check(_contract, blocking=_blocking, severity=_severity))
del _contract, _blocking, _severity
