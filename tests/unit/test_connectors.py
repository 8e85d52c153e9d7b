"""The connector plugin API: templates, retry policy, secrets, discovery, offset tracking."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from laneway.connectors import (
    BUILTINS,
    GROUP,
    Connector,
    DiscoveryError,
    JobFailed,
    PolicyError,
    RetryPolicy,
    Secrets,
    TemplateError,
    discover,
    load_connectors,
    parse_duration,
    render,
    render_json,
    render_value,
)
from laneway.connectors.builtin.discord import DiscordConnector
from laneway.connectors.builtin.email import EmailConnector
from laneway.connectors.builtin.http import HttpConnector
from laneway.connectors.builtin.llm import LlmConnector
from laneway.connectors.builtin.slack import SlackConnector
from services.connectors.offsets import PartitionOffsets

VARS = {"name": "Ada", "order": {"id": 42, "lines": [{"sku": "A-1"}, {"sku": "B-2"}]},
        "ok": True, "note": None}


# --- templates --------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "expected"), [
    ("Hello {{ name }}", "Hello Ada"),
    ("{{name}}/{{ order.id }}", "Ada/42"),
    ("sku {{ order.lines.1.sku }}", "sku B-2"),
    ("{{ order.lines.0 }}", '{"sku":"A-1"}'),
    ("{{ ok }} {{ note }}", "true null"),
    ("no placeholders", "no placeholders"),
])
def test_render_fills_names_and_paths(template: str, expected: str) -> None:
    assert render(template, VARS) == expected


@pytest.mark.parametrize("template", [
    "{{ missing }}", "{{ order.nope }}", "{{ order.lines.7.sku }}", "{{ name.first }}",
])
def test_render_refuses_a_missing_variable_naming_it(template: str) -> None:
    with pytest.raises(TemplateError, match="Expected variable '"):
        render(template, VARS)


@pytest.mark.parametrize("template", [
    "{{ __import__('os').system('x') }}", "{{ name | upper }}", "{{ order['id'] }}",
    "{{ a + b }}",
])
def test_render_has_no_expressions(template: str) -> None:
    with pytest.raises(TemplateError, match="Expected a variable path"):
        render(template, VARS)


def test_render_json_keeps_types_and_cannot_be_broken_out_of() -> None:
    # given a value that would end its JSON string if inserted as text
    variables = {**VARS, "name": 'Ada", "admin": true, "x": "'}

    filled = render_json('{"who": "{{ name }}", "id": "{{ order.id }}", '
                         '"lines": "{{ order.lines }}", "text": "Order {{ order.id }}"}',
                         variables)

    assert filled == {"who": 'Ada", "admin": true, "x": "', "id": 42,
                      "lines": [{"sku": "A-1"}, {"sku": "B-2"}], "text": "Order 42"}


def test_render_value_is_json_when_the_template_parses_and_text_otherwise() -> None:
    assert render_value('{"id": "{{ order.id }}"}', VARS) == ({"id": 42}, True)
    assert render_value("id={{ order.id }}", VARS) == ("id=42", False)


# --- retry policy -----------------------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = RetryPolicy.from_attributes({})
    assert (policy.retries, policy.backoff_s, policy.backoff_max_s, policy.timeout_s) == (
        3, 1.0, 300.0, 30.0)


def test_policy_reads_the_attributes() -> None:
    policy = RetryPolicy.from_attributes({"laneway:retries": "5", "laneway:retryBackoff": "PT0.2S",
                                          "laneway:retryBackoffMax": "PT1S",
                                          "laneway:timeout": "PT1M30S"})
    assert (policy.retries, policy.timeout_s) == (5, 90.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_policy_prefers_the_jobs_own_retries() -> None:
    # the engine set them from laneway:retries, or an operator resolving an incident did
    assert RetryPolicy.from_attributes({"laneway:retries": "5"}, job_retries=1).retries == 1
    assert RetryPolicy.from_attributes({"laneway:retries": "5"}, job_retries=0).retries == 5


@pytest.mark.parametrize(("attrs", "message"), [
    ({"laneway:retries": "three"}, "laneway:retries to be a positive whole number"),
    ({"laneway:retries": "0"}, "laneway:retries to be a positive whole number"),
    ({"laneway:timeout": "30"}, "laneway:timeout to be an ISO 8601 duration"),
    ({"laneway:timeout": "PT0S"}, "laneway:timeout to be longer than zero"),
    ({"laneway:retryBackoff": "P1M"}, "laneway:retryBackoff to be an ISO 8601 duration"),
])
def test_policy_refuses_malformed_attributes(attrs: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        RetryPolicy.from_attributes(attrs)


def test_parse_duration_reads_days_and_fractions() -> None:
    assert parse_duration("P1DT2H", "x") == 93600.0
    assert parse_duration("PT0.25S", "x") == 0.25


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_come_from_env_then_files_and_are_redacted(tmp_path: Path) -> None:
    (tmp_path / "smtp_main").write_text("smtp+starttls://mailer:p%40ss-w0rd@mail:587\n")
    secrets = Secrets({"LANEWAY_SECRET_API_KEY": "k-123456"}, tmp_path)

    assert secrets.get("api_key") == "k-123456"
    assert secrets.get("smtp_main") == "smtp+starttls://mailer:p%40ss-w0rd@mail:587"
    # the whole value, and a URL's password in both spellings, are masked
    assert secrets.redact("key k-123456, pw p@ss-w0rd / p%40ss-w0rd") == "key ***, pw *** / ***"


def test_a_missing_secret_is_a_non_retryable_failure_naming_where_it_looked(
        tmp_path: Path) -> None:
    with pytest.raises(JobFailed, match="LANEWAY_SECRET_SMTP or the file") as caught:
        Secrets({}, tmp_path).get("smtp")
    assert caught.value.retryable is False
    with pytest.raises(JobFailed, match="secret name"):
        Secrets({}, tmp_path).get("../etc/passwd")


# --- discovery --------------------------------------------------------------------------------


def _plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """A connector team's own package, importable as `acme_plugin`."""
    (tmp_path / "acme_plugin.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "acme_plugin", raising=False)


SLACK = """
    from laneway.connectors import Connector

    class SlackConnector(Connector):
        type = "slack"

        async def run(self, job, ctx):
            return {"posted": True}

    class NotAConnector:
        pass

    class WrongType(Connector):
        type = "msteams"

        async def run(self, job, ctx):
            return {}
"""


def test_discovery_finds_the_builtins_without_entry_points() -> None:
    found = discover([])
    assert set(found.connectors) == set(BUILTINS) >= {"http", "email", "slack", "discord", "llm"}
    assert isinstance(found.connectors["http"], HttpConnector)
    assert isinstance(found.connectors["email"], EmailConnector)
    assert isinstance(found.connectors["slack"], SlackConnector)
    assert isinstance(found.connectors["discord"], DiscordConnector)
    assert isinstance(found.connectors["llm"], LlmConnector)
    assert found.sources == dict.fromkeys(BUILTINS, "builtin")


def test_a_plugin_registers_through_its_entry_point(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # given a package with an entry point `slack = acme_plugin:SlackConnector`
    _plugin(tmp_path, monkeypatch, SLACK)
    eps = [EntryPoint("slack", "acme_plugin:SlackConnector", GROUP)]

    found = discover(eps)

    assert found.connectors["slack"].type == "slack"
    assert isinstance(found.connectors["slack"], Connector)
    assert found.sources["slack"] == "acme_plugin:SlackConnector"
    assert set(load_connectors(["slack", "http"], eps)) == {"slack", "http"}


def test_a_broken_plugin_is_reported_and_the_others_still_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin(tmp_path, monkeypatch, SLACK)
    eps = [EntryPoint("slack", "acme_plugin:SlackConnector", GROUP),
           EntryPoint("teams", "acme_plugin:WrongType", GROUP),
           EntryPoint("fax", "acme_plugin:NotAConnector", GROUP),
           EntryPoint("pager", "acme_plugin_missing:Pager", GROUP)]

    found = discover(eps)

    assert set(found.connectors) == set(BUILTINS) | {"slack"}
    assert found.errors["teams"].endswith(
        "Expected the connector of entry point 'teams' to have type 'teams', but it has "
        "'msteams'")
    assert found.errors["fax"].endswith(
        "Expected acme_plugin:NotAConnector to return a Connector, but it returned "
        "NotAConnector")
    assert "ModuleNotFoundError" in found.errors["pager"]
    with pytest.raises(DiscoveryError, match="not for pager: acme_plugin_missing:Pager"):
        load_connectors(["slack", "pager"], eps)


def test_an_entry_point_replaces_a_builtin_of_its_type(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _plugin(tmp_path, monkeypatch, SLACK.replace('type = "slack"', 'type = "http"'))
    found = discover([EntryPoint("http", "acme_plugin:SlackConnector", GROUP)])
    assert type(found.connectors["http"]).__name__ == "SlackConnector"


# --- offsets ----------------------------------------------------------------------------------


def test_offsets_commit_only_over_a_contiguous_run_of_done_jobs() -> None:
    # given jobs at offsets 10..13 running at once
    offsets = PartitionOffsets(0)
    for o in (10, 11, 12, 13):
        offsets.received(o)

    # when later ones finish first, then nothing can be committed
    assert offsets.done(12) is False
    assert offsets.done(11) is False
    assert offsets.commit_point() is None
    assert offsets.in_flight == 2

    # when the first finishes, then the commit point jumps past every finished one
    assert offsets.done(10) is True
    assert offsets.commit_point() == 13
    assert offsets.done(13) is True
    assert offsets.commit_point() == 14
    assert offsets.in_flight == 0


def test_a_revoked_partition_commits_nothing_more() -> None:
    offsets = PartitionOffsets(0)
    offsets.received(5)
    offsets.revoked = True
    assert offsets.done(5) is False
    assert offsets.commit_point() is None
