"""The `deliveries` partitions: one partition per delivery code, added as deliveries land."""

from collections.abc import Mapping

from dagster import DagsterInstance, DynamicPartitionsDefinition

deliveries_partitions = DynamicPartitionsDefinition(name="deliveries")


def deliveries_of_run(tags: Mapping[str, str], instance: DagsterInstance) -> list[str] | None:
    """The deliveries a run covers, from its partition tags; None for a run that is not partitioned."""
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start is None or end is None:
        return None
    # A range of dynamic partitions runs in the order the partitions were added.
    keys = instance.get_dynamic_partitions(deliveries_partitions.name)
    return keys[keys.index(start) : keys.index(end) + 1]
