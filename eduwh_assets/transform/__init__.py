"""transform: see docs/architecture.md."""

from dagster import Definitions

# Everything this package contributes to the code location; definitions.py merges it.
defs = Definitions()
