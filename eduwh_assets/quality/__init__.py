"""quality: Pandera asset checks, load reconciliation, attendance freshness, reject exports, delivery error statistics.

See docs/architecture.md. The checks only name asset keys (bronze/*, silver/*,
quarantine/*, gold/*); the assets themselves come from the bronze and transform
packages, and definitions.py merges them.
"""

from dagster import Definitions

from eduwh_assets.quality.contract_asset_checks import contract_checks
from eduwh_assets.quality.freshness import attendance_freshness
from eduwh_assets.quality.reconciliation import reconciliation_checks
from eduwh_assets.quality.rejects import reject_exports
from eduwh_assets.quality.stats import delivery_error_stats, delivery_stats

quality_checks = [*contract_checks, *reconciliation_checks, attendance_freshness]
quality_assets = [reject_exports, delivery_error_stats]

__all__ = [
    "contract_checks",
    "defs",
    "delivery_error_stats",
    "delivery_stats",
    "quality_assets",
    "quality_checks",
    "reconciliation_checks",
    "reject_exports",
]

# Everything this package contributes to the code location; definitions.py merges it.
defs = Definitions(asset_checks=quality_checks, assets=quality_assets)
