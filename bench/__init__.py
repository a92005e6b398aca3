"""Benchmarks: each module prints a table and ratios measured side by side in one run."""
