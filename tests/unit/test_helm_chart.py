"""The Helm chart, checked by what understands it: `helm lint --strict` (with the chart's
values.schema.json), `helm template` with the default values and each example file, every
manifest validated against the Kubernetes schemas of the oldest and newest supported versions
(strict: an unknown field fails), and the rendered Deployments held to the services' own
settings (ports, images, probes, env names): the code is the one source of truth."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from laneway.auth import AuthSettings
from laneway.settings import DEFAULT_PORTS
from tests.helm_chart import (
    CHART,
    EXAMPLES,
    KAFKA_SECURITY_NAMES,
    ROOT,
    render,
    run_helm,
)

OLDEST_KUBERNETES = "1.29.0"
NEWEST_KUBERNETES = "1.37.0"
"""The Kubernetes versions the chart supports (Chart.yaml kubeVersion; docs/kubernetes.md)."""

SERVICES = ("engine", "definitions", "worklist", "connectors", "audit", "triggers", "bridge")
API_SERVICES = {"definitions", "worklist", "connectors", "audit", "triggers"}
"""The services that verify bearer tokens (laneway.auth)."""
PROBES = {"livenessProbe": "/health/live", "readinessProbe": "/health/ready",
          "startupProbe": "/health/started"}
"""The probe paths every service answers (laneway/health.py)."""
OTEL_NAMES = {"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
              "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"}
CRD_GROUPS = ("monitoring.coreos.com/",)
"""Custom resources the Kubernetes schemas do not know: checked by `check_custom_resource`."""


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each values file's manifests, rendered once for the module."""
    return {name: render(path) for name, path in EXAMPLES.items()}


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def component(doc: dict[str, Any]) -> str:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels["app.kubernetes.io/component"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return list(spec["containers"])


def laneway_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in kinds(docs, "Deployment") if component(d) != "edge"]


# -- helm itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_helm_lint_strict_passes(values: str) -> None:
    path = EXAMPLES[values]
    result = run_helm("lint", "--strict", str(CHART),
                      *(["--values", str(path)] if path is not None else []))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(("values", "version"), [
    (v, k) for v in sorted(EXAMPLES) for k in (OLDEST_KUBERNETES, NEWEST_KUBERNETES)])
def test_every_manifest_is_valid_kubernetes_in_strict_mode(
        rendered: dict[str, list[dict[str, Any]]], values: str, version: str) -> None:
    invalid = []
    for doc in rendered[values]:
        if doc["apiVersion"].startswith(CRD_GROUPS):
            invalid += check_custom_resource(doc)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            invalid.append(f"{doc['kind']} {doc['metadata']['name']}: {exc.message}")

    assert invalid == []


def check_custom_resource(doc: Mapping[str, Any]) -> list[str]:
    """What is wrong with a Prometheus operator resource (not in Kubernetes' schemas): its
    apiVersion and kind, and the fields the operator requires."""
    name = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
    problems = []
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"{name}: apiVersion {doc.get('apiVersion')!r}")
    spec = doc.get("spec") or {}
    if not doc.get("metadata", {}).get("name"):
        problems.append(f"{name}: no metadata.name")
    if doc.get("kind") == "ServiceMonitor":
        if not isinstance(spec.get("selector"), dict):
            problems.append(f"{name}: no spec.selector")
        endpoints = spec.get("endpoints")
        if not endpoints or not all(isinstance(e, dict) and ("port" in e or "targetPort" in e)
                                    for e in endpoints):
            problems.append(f"{name}: spec.endpoints needs a port each")
    elif doc.get("kind") == "PrometheusRule":
        groups = spec.get("groups")
        if not groups:
            problems.append(f"{name}: no spec.groups")
        for group in groups or []:
            for rule in group.get("rules") or [None]:
                if (not isinstance(rule, dict) or not rule.get("expr")
                        or ("alert" in rule) == ("record" in rule)):
                    problems.append(f"{name}: group {group.get('name')!r} has a rule without "
                                    "expr or with neither (or both) of alert and record")
    elif doc.get("kind") not in ("PodMonitor",):
        problems.append(f"{name}: an unexpected kind")
    return problems


def test_the_custom_resource_check_finds_what_the_operator_would_refuse() -> None:
    good = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "r"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]}}
    no_expr = {**good, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}}
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
               "metadata": {"name": "m"}, "spec": {"selector": {}, "endpoints": [{}]}}

    assert check_custom_resource(good) == []
    assert check_custom_resource(no_expr) != []
    assert check_custom_resource(monitor) == ["ServiceMonitor m: spec.endpoints needs a port each"]
    assert check_custom_resource({**good, "apiVersion": "monitoring.coreos.com/v2"}) != []


# -- what runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_every_service_is_its_own_deployment_with_a_service(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    docs = rendered[values]
    deployments = kinds(docs, "Deployment")
    services = {s["metadata"]["name"]: s for s in kinds(docs, "Service")}

    assert {component(d) for d in deployments} >= set(SERVICES) - {"bridge"} | {"edge"}
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pod_labels["app.kubernetes.io/name"] == "laneway"
        # a Service of the same name selects exactly these pods, on the port named http
        service = services[name]
        assert service["metadata"]["labels"]["app.kubernetes.io/component"] == component(
            deployment)
        selector = service["spec"]["selector"]
        assert selector == deployment["spec"]["selector"]["matchLabels"]
        assert all(pod_labels[k] == v for k, v in selector.items())
        (port,) = service["spec"]["ports"]
        assert port["name"] == "http"
        assert port["targetPort"] == "http"
        (container,) = containers(deployment)
        assert container["ports"] == [{"name": "http", "containerPort": port["port"],
                                       "protocol": "TCP"}]


def test_connectors_run_one_deployment_per_group_with_its_types(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    import yaml

    values = yaml.safe_load(EXAMPLES["production"].read_text())  # type: ignore[union-attr]
    groups = {g["name"]: g["types"] for g in values["connectors"]["groups"]}
    deployments = {d["metadata"]["name"]: d for d in rendered["production"]
                   if d["kind"] == "Deployment" and component(d) == "connectors"}

    served = {}
    for name, types in groups.items():
        env = env_of(containers(deployments[f"laneway-connectors-{name}"])[0])
        served[name] = env["LANEWAY_CONNECTOR_TYPES"]["value"].split(",")
        assert served[name] == types
    gateway = env_of(containers(deployments["laneway-connectors"])[0])
    assert gateway["LANEWAY_EXTERNAL_JOB_TYPES"]["value"] == "io.acme:ledger:1"
    assert len(deployments) == len(groups) + 1


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_images_commands_ports_and_probes_follow_the_services_settings(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    import yaml

    given = yaml.safe_load(EXAMPLES[values].read_text()) if EXAMPLES[values] else {}  # type: ignore[union-attr]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    image = given.get("image", {})
    expected_image = (f"{image.get('repository', 'laneway')}:"
                      f"{image.get('tag') or chart['appVersion']}")

    for deployment in laneway_deployments(rendered[values]):
        name = component(deployment)
        (container,) = containers(deployment)
        env = env_of(container)
        assert container["image"] == expected_image
        assert container["command"] == ["python", "-m", f"services.{name}"]
        # the port the code uses when nothing says otherwise, and the one the pod is told
        assert container["ports"][0]["containerPort"] == DEFAULT_PORTS[name]
        assert env["LANEWAY_HTTP_PORT"]["value"] == str(DEFAULT_PORTS[name])
        assert env["LANEWAY_HTTP_HOST"]["value"] == "0.0.0.0"
        assert env["LANEWAY_ENV"]["value"] == "production"
        for probe, path in PROBES.items():
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, (name, probe)
    engine = next(d for d in laneway_deployments(rendered[values]) if component(d) == "engine")
    startup = containers(engine)[0]["startupProbe"]
    # the engine's restore may take minutes: its startup probe waits that long
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def _code_text(*folders: Path) -> str:
    return "\n".join(p.read_text() for folder in folders for p in folder.rglob("*.py"))


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_every_env_name_is_one_the_service_reads(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    shared = _code_text(ROOT / "laneway")
    unread = []
    workloads = [(component(d), containers(d)[0]) for d in laneway_deployments(rendered[values])]
    workloads += [(job["metadata"]["name"].removeprefix("laneway-"),
                   job["spec"]["template"]["spec"]["containers"][0])
                  for job in kinds(rendered[values], "Job")]
    for name, container in workloads:
        own = (ROOT / "services" / name)
        code = shared + (_code_text(own) if own.is_dir()
                         else (ROOT / "services" / f"{name}.py").read_text())
        for setting in env_of(container):
            if setting in OTEL_NAMES:
                continue
            if f'"{setting}"' not in code:
                unread.append(f"{name}: {setting}")

    assert unread == []
    # the agreed names the chart passes are those of the interface, letter for letter
    chart_text = "\n".join(p.read_text() for p in (CHART / "templates").iterdir())
    assert set(re.findall(r"LANEWAY_KAFKA_[A-Z_]+", chart_text)) <= KAFKA_SECURITY_NAMES


_SECRET_VALUES = {
    "DATABASE_URL": "postgresql://laneway:pw@pg:5432/laneway",
    "REDIS_URL": "redis://redis:6379/0",
    "LANEWAY_AUDIT_DATABASE_URL": "postgresql://laneway_audit_writer:pw@pg:5432/laneway",
}


def pod_environment(container: dict[str, Any], volumes: list[dict[str, Any]],
                    tmp_path: Path) -> dict[str, str]:
    """The environment the container would start with: values as given, Secret references
    as plausible values (what the Secret would hold), and paths into mounted Secrets moved
    to files of 48 random-looking bytes under `tmp_path`."""
    secret_mounts = {m["mountPath"] for m in container.get("volumeMounts", [])
                     if any(v["name"] == m["name"] and "secret" in v for v in volumes)}
    env = {}
    for name, entry in env_of(container).items():
        if "value" in entry:
            value = str(entry["value"])
            mount = next((m for m in secret_mounts if value.startswith(m + "/")), None)
            if mount is not None:
                path = tmp_path / value.strip("/").replace("/", "_")
                path.write_text("k" * 48)
                value = str(path)
            env[name] = value
        else:
            assert "secretKeyRef" in entry["valueFrom"], name
            env[name] = _SECRET_VALUES.get(name, "s" * 48)
    return env


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_each_service_accepts_the_environment_the_chart_gives_it(
        rendered: dict[str, list[dict[str, Any]]], values: str, tmp_path: Path) -> None:
    import importlib

    for deployment in laneway_deployments(rendered[values]):
        name = component(deployment)
        (container,) = containers(deployment)
        env = pod_environment(container, deployment["spec"]["template"]["spec"]["volumes"],
                              tmp_path)
        # production refuses to start on any missing connection or key: this is what
        # would crash-loop the pod
        importlib.import_module(f"services.{name}.settings").load_settings(env)
        if name in API_SERVICES:
            auth = AuthSettings.from_env(env)
            assert auth.issuer == env["LANEWAY_JWT_ISSUER"]
        else:
            assert "LANEWAY_JWT_ISSUER" not in env


def test_setting_only_the_issuer_gives_services_that_start(tmp_path: Path) -> None:
    docs = render(None, "--set", "auth.issuer=https://idp.example.com")

    for deployment in laneway_deployments(docs):
        (container,) = containers(deployment)
        env = pod_environment(container, deployment["spec"]["template"]["spec"]["volumes"],
                              tmp_path)
        if component(deployment) in API_SERVICES:
            assert AuthSettings.from_env(env).issuer == "https://idp.example.com"
    # the HS256 secret they verify with is one the chart generated and keeps
    (keys,) = [s for s in kinds(docs, "Secret") if s["metadata"]["name"] == "laneway-keys"]
    assert keys["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert set(keys["data"]) == {"jwt-secret", "audit-key", "triggers-key"}


@pytest.mark.parametrize(("args", "message"), [
    (("--set", "auth.jwksUrl=https://idp.example.com/jwks"), "auth.issuer"),
    (("--set", "auth.secret.generate=false"), "auth.jwksUrl"),
    (("--set", "kafka.security.protocol=SASL_SSL"), "kafka.security.sasl.mechanism"),
    (("--set", "kafka.security.protocol=SASL_SSL", "--set",
      "kafka.security.sasl.mechanism=SCRAM-SHA-512"), "kafka.security.sasl.existingSecret"),
    (("--set", "ingress.tlsSecret=tls"), "ingress.host"),
    (("--set", "database.existingSecret="), "database.existingSecret"),
    (("--set", "services.engin.replicas=2"), "engin"),
    (("--set", "kafka.security.protocol=TLS"), "protocol"),
    (("--set", "services.engine.port=8080"), "port"),
])
def test_what_is_missing_or_wrong_fails_the_render_naming_it(args: tuple[str, ...],
                                                             message: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(message)):
        render(None, *args)


# -- hardening -----------------------------------------------------------------------------


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{d['kind']} {d['metadata']['name']}", d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in ("Deployment", "Job")]


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_every_pod_runs_hardened(rendered: dict[str, list[dict[str, Any]]],
                                 values: str) -> None:
    for name, spec in pod_specs(rendered[values]):
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp, name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["runAsNonRoot"] is True, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name
    (account,) = kinds(rendered[values], "ServiceAccount")
    assert account["automountServiceAccountToken"] is False


def test_production_has_disruption_budgets_and_autoscalers_that_select_their_pods(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["production"]
    deployments = {d["metadata"]["name"]: d for d in kinds(docs, "Deployment")}
    budgets = kinds(docs, "PodDisruptionBudget")
    scalers = {h["metadata"]["name"]: h for h in kinds(docs, "HorizontalPodAutoscaler")}

    assert {b["metadata"]["name"] for b in budgets} == set(deployments)
    for budget in budgets:
        target = deployments[budget["metadata"]["name"]]
        assert budget["spec"]["selector"] == target["spec"]["selector"]
    assert set(scalers) == {"laneway-connectors-http", "laneway-connectors-llm", "laneway-edge"}
    for name, scaler in scalers.items():
        assert scaler["spec"]["scaleTargetRef"]["name"] == name
        # the HPA owns the replica count: a rollout does not reset it
        assert "replicas" not in deployments[name]["spec"]
    http_metrics = {m["type"] for m in scalers["laneway-connectors-http"]["spec"]["metrics"]}
    llm_metrics = [m["type"] for m in scalers["laneway-connectors-llm"]["spec"]["metrics"]]
    assert http_metrics == {"Resource", "External"}
    assert llm_metrics == ["External"]


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_network_policies_let_in_only_the_edge_the_ingress_and_monitoring(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    docs = rendered[values]
    policies = {p["metadata"]["name"]: p for p in kinds(docs, "NetworkPolicy")}
    edge_pods = next(d for d in kinds(docs, "Deployment") if component(d) == "edge")[
        "spec"]["template"]["metadata"]["labels"]

    for deployment in kinds(docs, "Deployment"):
        name = component(deployment)
        policy = policies[deployment["metadata"]["name"]]
        assert policy["spec"]["podSelector"]["matchLabels"] == deployment["spec"]["selector"][
            "matchLabels"]
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        sources = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        for peer in sources:
            if "podSelector" in peer:
                # only the edge's pods, and only to the routed HTTP services
                assert all(edge_pods[k] == v
                           for k, v in peer["podSelector"]["matchLabels"].items())
                assert name in {"definitions", "worklist", "audit", "triggers", "connectors"}
            else:
                assert set(peer) == {"namespaceSelector"}
        open_egress = {} in policy["spec"]["egress"]
        # the connectors and triggers call the outside; the engine and bridge never do
        if name in ("engine", "bridge", "edge"):
            assert not open_egress, name
        if name == "connectors" and deployment["metadata"]["name"] != "laneway-connectors":
            assert open_egress, name


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_the_ingress_and_the_edge_reach_existing_services(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    docs = rendered[values]
    services = {s["metadata"]["name"]: s for s in kinds(docs, "Service")}
    (ingress,) = kinds(docs, "Ingress")
    (config,) = [c for c in kinds(docs, "ConfigMap") if c["metadata"]["name"] == "laneway-edge"]

    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "laneway-edge"
    assert backend["port"] == {"name": "http"}
    assert backend["name"] in services
    upstreams = re.findall(r"server ([a-z0-9-]+):(\d+);", config["data"]["nginx.conf"])
    assert len(upstreams) == 5
    for host, port in upstreams:
        assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]], host


def test_production_ingress_has_tls_and_the_triggers_keep_their_files(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    (ingress,) = kinds(rendered["production"], "Ingress")
    triggers = next(d for d in kinds(rendered["production"], "Deployment")
                    if component(d) == "triggers")
    data = next(v for v in triggers["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "triggers-data")

    assert data == {"name": "triggers-data",
                    "persistentVolumeClaim": {"claimName": "laneway-triggers-data"}}
    assert ingress["spec"]["tls"] == [{"secretName": "laneway-example-com-tls",
                                       "hosts": ["laneway.example.com"]}]
    assert ingress["spec"]["rules"][0]["host"] == "laneway.example.com"


# -- hook Jobs -----------------------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_topics_then_migrations_run_as_hooks_before_the_services(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    import yaml

    given = yaml.safe_load(EXAMPLES[values].read_text()) if EXAMPLES[values] else {}  # type: ignore[union-attr]
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    topics_values = {**defaults["kafka"]["topics"], **given.get("kafka", {}).get("topics", {})}
    groups = given.get("connectors", {}).get("groups", defaults["connectors"]["groups"])
    gateway = given.get("connectors", {}).get("gateway", {}).get("types", [])
    jobs = {j["metadata"]["name"]: j for j in kinds(rendered[values], "Job")}

    assert set(jobs) == {"laneway-topics", "laneway-migrate"}
    weights = {}
    for name, job in jobs.items():
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        weights[name] = int(annotations["helm.sh/hook-weight"])
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == ["python", "-m", f"services.{name.split('-')[1]}"]
    assert weights["laneway-topics"] < weights["laneway-migrate"]
    topics_env = env_of(jobs["laneway-topics"]["spec"]["template"]["spec"]["containers"][0])
    assert topics_env["LANEWAY_PARTITIONS"]["value"] == str(topics_values["partitions"])
    assert topics_env["LANEWAY_REPLICATION_FACTOR"]["value"] == str(
        topics_values["replicationFactor"])
    job_types = topics_env["LANEWAY_JOB_TYPES"]["value"].split(",")
    assert set(job_types) == {t for g in groups for t in g["types"]} | set(gateway)


def test_the_secret_of_inline_urls_exists_before_the_hook_jobs_that_read_it() -> None:
    docs = render(None, "--set", "database.url=postgresql://o:pw@pg/laneway",
                  "--set", "database.auditWriterUrl=postgresql://w:pw@pg/laneway",
                  "--set", "redis.url=redis://redis:6379/0")
    (secret,) = [s for s in kinds(docs, "Secret")
                 if s["metadata"]["name"] == "laneway-connections"]
    jobs = kinds(docs, "Job")

    assert set(secret["stringData"]) == {"DATABASE_URL", "LANEWAY_AUDIT_DATABASE_URL",
                                         "REDIS_URL"}
    weight = int(secret["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert "pre-install" in secret["metadata"]["annotations"]["helm.sh/hook"]
    for job in jobs:
        env = env_of(job["spec"]["template"]["spec"]["containers"][0])
        assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "laneway-connections"
        assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
