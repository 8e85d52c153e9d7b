"""What the policy scanners (`make chart-scan`: kube-score, checkov) ask of the chart, held
here too so a change that breaks it fails the unit tests without the scanners installed:
every object in the release's namespace, every container with CPU, memory and
ephemeral-storage requests and limits and pull policy Always, every pod (the hook Jobs' too)
under a NetworkPolicy; and the skip list, where each skipped check gives its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.chart_scan import load_skips
from tests.helm_chart import EXAMPLES, render, selects

RESOURCES = ("cpu", "memory", "ephemeral-storage")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(path, namespace="ops-laneway") for name, path in EXAMPLES.items()}


def pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{d['kind']} {d['metadata']['name']}", d["spec"]["template"])
            for d in docs if d["kind"] in ("Deployment", "Job")]


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_every_object_names_the_release_namespace(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    for doc in rendered[values]:
        assert doc["metadata"].get("namespace") == "ops-laneway", \
            f"{doc['kind']} {doc['metadata']['name']}"


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_every_container_has_requests_and_limits_and_pulls_always(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    found = pods(rendered[values])
    assert found
    for name, template in found:
        for container in template["spec"]["containers"]:
            resources = container["resources"]
            for kind in RESOURCES:
                assert resources["requests"].get(kind), (name, "requests", kind)
                assert resources["limits"].get(kind), (name, "limits", kind)
            assert container["imagePullPolicy"] == "Always", name
        # the /tmp emptyDir counts against the ephemeral-storage limit: it must fit in it
        # (Kubernetes quantities here are all Mi or Gi)
        tmp = next(v for v in template["spec"]["volumes"] if v["name"] == "tmp")
        limit = template["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"]
        assert mebibytes(tmp["emptyDir"]["sizeLimit"]) < mebibytes(limit), name


def mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


@pytest.mark.parametrize("values", sorted(EXAMPLES))
def test_every_pod_is_under_a_network_policy(
        rendered: dict[str, list[dict[str, Any]]], values: str) -> None:
    policies = [d for d in rendered[values] if d["kind"] == "NetworkPolicy"]
    for name, template in pods(rendered[values]):
        labels = template["metadata"]["labels"]
        assert any(selects(p["spec"]["podSelector"], labels) for p in policies), name


def test_the_hook_jobs_policy_exists_before_them_and_lets_nothing_in() -> None:
    docs = render(None)
    jobs = [d for d in docs if d["kind"] == "Job"]
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy"
                 and d["metadata"]["name"].endswith("-jobs")]
    annotations = policy["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    weight = int(annotations["helm.sh/hook-weight"])
    assert {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            for d in jobs} == {"topics", "migrate"}
    for job in jobs:
        assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
        assert selects(policy["spec"]["podSelector"],
                       job["spec"]["template"]["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == []
    # and no service's pod: theirs are their own policies
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        assert not selects(policy["spec"]["podSelector"],
                           deployment["spec"]["template"]["metadata"]["labels"])
    # without the Jobs there is no policy of theirs
    alone = render(None, "--set", "kafka.topics.create=false", "--set", "database.migrate=false")
    assert not [d for d in alone if d["metadata"]["name"].endswith("-jobs")]


def test_every_skipped_check_gives_its_reason() -> None:
    skips = load_skips()
    assert skips.checkov
    assert skips.kube_score
    for ident, reason in {**skips.checkov, **skips.kube_score}.items():
        assert len(reason) > 40, ident


def test_a_skip_without_a_reason_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "skips.toml"
    bad.write_text('[[checkov]]\nid = "CKV_K8S_43"\nreason = ""\n')
    with pytest.raises(ValueError, match="reason"):
        load_skips(bad)
    bad.write_text('[[kube_score]]\nid = "a"\nreason = "r"\n[[kube_score]]\nid = "a"\n'
                   'reason = "r"\n')
    with pytest.raises(ValueError, match="twice"):
        load_skips(bad)
