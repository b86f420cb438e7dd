"""The `deliveries` partitions: one partition per delivery code, added as deliveries land.

Everything that finds deliveries and registers them (`eduwh run`, `eduwh backfill`,
the landing-zone sensor, the daily deliveries schedule) and everything that reads
which deliveries a run covered goes through this module.
"""

from collections.abc import Callable, Iterable, Mapping

from dagster import DagsterInstance, DynamicPartitionsDefinition

from eduwh_assets.config import Settings
from eduwh_assets.sources.landing import Discovery, LandingZone

deliveries_partitions = DynamicPartitionsDefinition(name="deliveries")

# Dagster's run tags: a run of one partition, and a run over a range of partitions
# (single-run backfills carry the same pair).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the deliveries `first` to `last`, in partition order."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def deliveries_of_run(tags: Mapping[str, str], instance: DagsterInstance) -> list[str] | None:
    """The deliveries a run covers, from its partition tags; None for a run that is not partitioned."""
    if PARTITION_TAG in tags:
        return [tags[PARTITION_TAG]]
    start = tags.get(RANGE_START_TAG)
    end = tags.get(RANGE_END_TAG)
    if start is None or end is None:
        return None
    # A range of dynamic partitions runs in the order the partitions were added.
    keys = instance.get_dynamic_partitions(deliveries_partitions.name)
    return keys[keys.index(start) : keys.index(end) + 1]


def discover_deliveries(settings: Settings, report: Callable[[str], None]) -> Discovery:
    """Scan the landing zone; every folder that is not a loadable delivery is reported through `report`.

    Raises LandingZoneError when the zone itself cannot be read.
    """
    discovery = LandingZone.from_settings(settings).discover()
    for problem in discovery.problems():
        report(problem)
    return discovery


def unregistered(instance: DagsterInstance, codes: Iterable[str]) -> list[str]:
    """The delivery codes, in the order given, that are not `deliveries` partitions yet."""
    return [code for code in codes if not instance.has_dynamic_partition(deliveries_partitions.name, code)]


def register(instance: DagsterInstance, codes: Iterable[str]) -> list[str]:
    """Add the codes that are not partitions yet, in the order given; returns those added."""
    new = unregistered(instance, codes)
    if new:
        instance.add_dynamic_partitions(deliveries_partitions.name, new)
    return new
