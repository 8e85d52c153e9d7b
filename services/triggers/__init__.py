"""The triggers service: processes that start themselves (docs/triggers.md)."""
