"""Benchmark cases: one module per case, each registering itself with ``benchmarks.registry.case``."""
