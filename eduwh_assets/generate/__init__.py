"""Synthetic, realistic SIS rows and deliveries for demos, tests and benchmarks."""

from eduwh_assets.generate.config import SCALES, GeneratorConfig
from eduwh_assets.generate.dataset import Dataset, generate
from eduwh_assets.generate.deliveries import GeneratedDelivery, GeneratedFile
from eduwh_assets.generate.writers import (
    add_late_students,
    is_seeded,
    update_students,
    write_landing,
    write_sis,
)

__all__ = [
    "SCALES",
    "Dataset",
    "GeneratedDelivery",
    "GeneratedFile",
    "GeneratorConfig",
    "add_late_students",
    "generate",
    "is_seeded",
    "update_students",
    "write_landing",
    "write_sis",
]
