"""The chaos run (`make chaos`, `python -m benchmarks.chaos`, docs/chaos.md)."""
