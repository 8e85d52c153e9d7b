"""The audit service's routers, one module per resource."""
