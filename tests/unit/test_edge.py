"""The edge's path table (edge/routes.toml) agrees with the services' apps and with every
config generated from it: each route a service serves reaches that service through the public
URL, and the compose and Helm configs are the table's current rendering."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from laneway.health import HEALTH_PATHS
from laneway.web.docs import ASSETS
from scripts.edge import generated
from scripts.edge.nginx import Runtime, render
from scripts.edge.routes import HTTP_SERVICES, RouteTableError, load, owner, parse
from tests.service_apps import apps, served

# served by every service on its own port (probes, Prometheus), not through the public URL
OWN_PORT_ONLY = {*HEALTH_PATHS, "/metrics"}


@pytest.mark.parametrize("name", HTTP_SERVICES)
def test_every_route_of_a_service_reaches_it_through_the_edge(name: str) -> None:
    routes = load()
    app = apps()[name]

    wrong = []
    for method, path in served(app):
        if path in OWN_PORT_ONLY:
            continue
        if path.startswith(f"{ASSETS}/"):
            continue  # the same files from every service: the edge asks one of them
        route = owner(routes, path)
        if route is None or route.service_for(method) != name:
            wrong.append(f"{method} {path} -> {route.service_for(method) if route else None}")

    assert wrong == []


def test_every_route_of_the_table_is_served_by_its_service() -> None:
    by_service = {name: served(app) for name, app in apps().items()}

    unserved = []
    for route in load():
        for service in route.services:
            paths = [p for _, p in by_service[service]]
            if not any(route.matches(p) for p in paths):
                unserved.append(f"{route.path} ({service})")

    assert unserved == []


def test_the_committed_compose_and_helm_configs_are_the_tables_rendering() -> None:
    for path, text in generated.generated_files().items():
        assert path.read_text() == text, f"{path}: run python -m scripts.edge render"


def test_the_helm_edge_template_is_yaml_with_the_config_the_table_gives() -> None:
    text = generated.HELM_EDGE.read_text()
    # without Helm here: its comment, condition and includes dropped, its other expressions a
    # value (tests/unit/test_helm_chart.py renders the chart with helm itself)
    plain = re.sub(r"\{\{- /\*.*?\*/ -\}\}\n?|\{\{- (?:include|if|end)\b.*?\}\}\n?", "", text,
                   flags=re.S)
    plain = re.sub(r"\{\{.*?\}\}", "x", plain)

    (config_map,) = yaml.safe_load_all(plain)

    conf = config_map["data"]["nginx.conf"]
    assert config_map["kind"] == "ConfigMap"
    assert "map $request_method $laneway_api_instances" in conf
    assert "location /api/tasks/ { proxy_pass http://laneway_worklist; }" in conf
    # a non-root nginx on a read-only root filesystem: its files under /tmp (an emptyDir)
    assert "pid /tmp/nginx.pid;" in conf
    assert "client_body_temp_path /tmp/client_body;" in conf
    for probe in ("/health/live", "/health/ready", "/health/started"):
        assert f"location = {probe} {{" in conf


def test_a_method_split_path_goes_to_each_methods_service() -> None:
    conf = render(load(), {s: f"{s}:1" for s in HTTP_SERVICES}, Runtime(listen="8080"))

    assert re.search(r"map \$request_method \$laneway_api_instances \{\s+POST "
                     r"laneway_definitions;\s+default laneway_audit;", conf)
    assert "location = /api/instances { proxy_pass http://$laneway_api_instances; }" in conf
    # under the path too: POST .../{id}/cancel is the definitions', reads are the audit's
    assert re.search(r"map \$request_method \$laneway_api_instances_under \{\s+POST "
                     r"laneway_definitions;\s+default laneway_audit;", conf)
    assert ("location /api/instances/ { proxy_pass http://$laneway_api_instances_under; }"
            in conf)


def test_owner_prefers_an_exact_route_then_the_longest_prefix() -> None:
    routes = parse([{"path": "/api/a", "service": "audit"},
                    {"path": "/api/a/b", "service": "worklist"},
                    {"path": "/api/a/c", "service": "definitions", "match": "exact"}])

    assert owner(routes, "/api/a/b/1").service == "worklist"  # type: ignore[union-attr]
    assert owner(routes, "/api/a/1").service == "audit"  # type: ignore[union-attr]
    assert owner(routes, "/api/a/c").service == "definitions"  # type: ignore[union-attr]
    assert owner(routes, "/api/a/c/1").service == "audit"  # type: ignore[union-attr]
    assert owner(routes, "/api/ab") is None  # a prefix is a path segment, not characters


@pytest.mark.parametrize(("entry", "message"), [
    ({"path": "api", "service": "audit"}, "path starting with '/'"),
    ({"path": "/a", "service": "engine"}, "one of definitions, worklist, audit, triggers"),
    ({"path": "/a", "service": "audit", "match": "regex"}, "match 'prefix' or 'exact'"),
    ({"path": "/a", "service": "audit", "methods": {"post": "audit"}}, "upper case"),
    ({"path": "/a", "service": "audit", "weight": 2}, "but got weight"),
])
def test_a_malformed_route_is_refused_with_what_is_wrong(entry: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises(RouteTableError, match=re.escape(message)):
        parse([entry])


def test_paths_with_spaces_are_one_quoted_nginx_argument_each() -> None:
    # given a work directory with spaces (the e2e benchmark's is "engine + worker")
    home = "/tmp/run 1/engine + worker/edge"
    runtime = Runtime(listen="127.0.0.1:8080", pid_file=f"{home}/nginx.pid",
                      error_log=f"{home}/error.log", temp_dir=f"{home}/tmp")
    # when the config is rendered
    conf = render(load(), {s: f"127.0.0.1:{i}" for i, s in enumerate(HTTP_SERVICES, 9000)},
                  runtime)
    # then each path is one quoted argument, and a plain path stays bare
    assert f'pid "{home}/nginx.pid";' in conf
    assert f'error_log "{home}/error.log" warn;' in conf
    assert f'client_body_temp_path "{home}/tmp/client_body";' in conf
    plain = render(load(), {s: f"{s}:1" for s in HTTP_SERVICES},
                   Runtime(listen="8080", pid_file="/run/nginx.pid"))
    assert "pid /run/nginx.pid;" in plain


def test_a_path_nginx_would_read_as_a_variable_is_refused() -> None:
    with pytest.raises(ValueError, match=r"without '\$'"):
        render(load(), {s: f"{s}:1" for s in HTTP_SERVICES},
               Runtime(listen="8080", pid_file="/tmp/$HOME/nginx.pid"))
