"""Benchmarks: offline datasets, runners, result tables."""
