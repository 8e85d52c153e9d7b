"""The edge: one public URL for every service's routes, from the path table in
edge/routes.toml. Locally a private nginx (`Edge`, started by `make up`); docker compose and
the Helm chart run the same rendered config (`python -m scripts.edge render`)."""

from scripts.edge.process import DEFAULT_PORT, Edge, edge_port
from scripts.edge.routes import HTTP_SERVICES, Route, RouteTableError, load, owner

__all__ = [
    "DEFAULT_PORT",
    "HTTP_SERVICES",
    "Edge",
    "Route",
    "RouteTableError",
    "edge_port",
    "load",
    "owner",
]
