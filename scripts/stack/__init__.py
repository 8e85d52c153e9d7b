"""Local infrastructure for Laneway: Kafka (KRaft), PostgreSQL and Redis as local processes."""

from scripts.stack.config import Settings, StackError
from scripts.stack.stack import Connections, connections, down, jaeger_up, reset, status, up

__all__ = ["Connections", "Settings", "StackError", "connections", "down", "jaeger_up", "reset",
           "status", "up"]
