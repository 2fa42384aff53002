"""Benchmarks: `python -m bench.intake` (see docs/performance.md)."""
