"""Reproducible benchmarks; each script documents how to run it."""
