"""End-to-end benchmark through the running services (`python -m benchmarks.e2e`)."""
