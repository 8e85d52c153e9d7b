"""The engine core against SpiffWorkflow, in process, on the same diagrams (`python -m
benchmarks.core`). Not a test: the figures depend on the machine; the ratios are what matter."""
