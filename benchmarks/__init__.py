"""Benchmarks: not tests; timings depend on the machine."""
