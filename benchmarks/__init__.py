"""Benchmarks (`make bench` / `./dev bench`): side-by-side ratios, never part of the test suite."""
