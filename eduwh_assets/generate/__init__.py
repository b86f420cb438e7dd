"""Synthetic, realistic SIS rows and deliveries for demos, tests and benchmarks."""
