"""The built-in triggers, one module each (docs/triggers.md)."""
