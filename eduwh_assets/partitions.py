"""The `deliveries` partitions: one partition per delivery code, added as deliveries land."""

from dagster import DynamicPartitionsDefinition

deliveries_partitions = DynamicPartitionsDefinition(name="deliveries")
