"""The connectors that ship with Laneway: `http` and `email`. Each is one small module."""
