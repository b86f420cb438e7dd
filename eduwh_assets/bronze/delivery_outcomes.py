"""How a delivery run tells its per-file outcomes: metadata, failure text and a per-delivery table."""

from typing import Any

from eduwh_assets.bronze.delivery_load import DeliveryLoad
from eduwh_assets.bronze.delivery_resource import FileOutcomes
from eduwh_assets.markdown import markdown_table


def failure_text(result: DeliveryLoad) -> str:
    failed = result.outcomes.failed
    lines = [f"{len(failed)} {result.source} file(s) of delivery {result.delivery_code} failed to load:"]
    lines += [f"- {reason}" for _, reason in sorted(failed.items())]
    if result.outcomes.loaded:
        lines.append(f"The other {len(result.outcomes.loaded)} file(s) loaded and are committed.")
    return "\n".join(lines)


def file_outcomes_metadata(outcomes: FileOutcomes) -> dict[str, Any]:
    return {
        "loaded": dict(sorted(outcomes.loaded.items())),
        "skipped_unchanged": sorted(outcomes.skipped_unchanged),
        "failed": dict(sorted(outcomes.failed.items())),
        "retracted": sorted(outcomes.retracted),
    }


def per_delivery_table(results: list[DeliveryLoad]) -> str:
    columns = ["delivery", "rows loaded", "files loaded", "unchanged", "failed", "retracted"]
    rows = [
        [
            r.delivery_code,
            r.rows_loaded,
            len(r.outcomes.loaded),
            len(r.outcomes.skipped_unchanged),
            len(r.outcomes.failed),
            len(r.outcomes.retracted),
        ]
        for r in results
    ]
    return markdown_table(columns, rows)
