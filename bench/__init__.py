"""Benchmarks of ketenbus: `python -m bench.slice` (or `make bench`) measures the first slice."""
