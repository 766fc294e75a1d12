"""Benchmarks: each measures its baseline in the same run and prints one table (see BENCH.md)."""
