"""The `ticket` connector against a local ticketing API (tests/fake_tickets.py), run as the
connectors runtime runs one attempt (`laneway.connectors.testing.run_job`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

import pytest
from fake_tickets import TOKEN, FakeTickets, fake_tickets
from laneway_connector_example import TicketConnector, TicketMetrics
from prometheus_client import CollectorRegistry

from laneway.connectors import BpmnError, Job, JobFailed, discover
from laneway.connectors.testing import TEST_INSTANCE, make_job, run_job

TASK = {"title": "Pothole at {{ report.street }}", "description": "{{ report.text }}",
        "priority": "high", "resultVariable": "ticket"}
REPORT = {"report": {"street": "Elm St 4", "text": "Deep, by the crossing."}}


@pytest.fixture
def api() -> Iterator[FakeTickets]:
    with fake_tickets() as state:
        yield state


def _run(api: FakeTickets, connector: TicketConnector | None = None,
         task: dict[str, str] | None = None, secret: str = TOKEN,
         job: Job | None = None) -> Mapping[str, Any]:
    result = run_job(connector or TicketConnector(TicketMetrics(CollectorRegistry())),
                     task or TASK, REPORT, secrets={"tickets_token": secret},
                     settings={"api_url": api.url}, job=job)
    # run_job also returns what a waiting (Pending) or deciding (Decision) connector answers
    assert isinstance(result, Mapping)
    return result


def test_opens_a_ticket_filled_from_the_variables_and_counts_it(api: FakeTickets) -> None:
    metrics = TicketMetrics(CollectorRegistry())

    result = _run(api, TicketConnector(metrics))

    assert result == {"ticket": {"id": "T-1", "url": f"{api.url}/t/1"}}
    (sent,) = api.requests
    assert sent["body"] == {"title": "Pothole at Elm St 4", "description": "Deep, by the crossing.",
                            "priority": "high"}
    assert sent["auth"] == f"Bearer {TOKEN}"
    assert sent["key"] == f"{TEST_INSTANCE}:1"
    assert metrics.registry.get_sample_value("laneway_connectors_ticket_created_total",
                                             {"priority": "high"}) == 1


def test_a_retry_of_the_same_job_gets_the_same_ticket(api: FakeTickets) -> None:
    first = _run(api)
    again = _run(api, job=make_job("ticket", TASK, REPORT, attempt=2))  # same key, same job

    assert first == again
    assert len(api.tickets) == 1


def test_a_refused_ticket_is_the_bpmn_error_the_diagram_catches(api: FakeTickets) -> None:
    api.script["Pothole at Elm St 4"] = (422, {"error": "street unknown"}, {})

    with pytest.raises(BpmnError) as caught:
        _run(api)

    assert caught.value.code == "TICKET_REJECTED"
    assert caught.value.variables == {"ticket": {"error": "street unknown"}}


def test_a_rate_limit_is_retried_after_what_the_api_asked(api: FakeTickets) -> None:
    api.script["Pothole at Elm St 4"] = (429, {"error": "slow down"}, {"Retry-After": "7"})

    with pytest.raises(JobFailed, match="wait 7 s") as caught:
        _run(api)

    assert (caught.value.retryable, caught.value.retry_after_s) == (True, 7.0)


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (500, True), (400, False)])
def test_server_errors_are_retried_and_other_answers_are_not(
        api: FakeTickets, status: int, retryable: bool) -> None:
    api.script["Pothole at Elm St 4"] = (status, {"error": "nope"}, {})

    with pytest.raises(JobFailed, match=f"answered {status}") as caught:
        _run(api)

    assert caught.value.retryable is retryable


def test_a_wrong_token_fails_without_retry_and_never_shows_it(api: FakeTickets) -> None:
    with pytest.raises(JobFailed, match="refused the token") as caught:
        _run(api, secret="tk-wrong-123")

    assert caught.value.retryable is False
    assert "tk-wrong-123" not in str(caught.value)


@pytest.mark.parametrize(("task", "message"), [
    ({"description": "x"}, "Expected laneway:title"),
    ({"title": "x" * 201}, "1 to 200 characters"),
    ({"title": "{{ nope }}"}, "nope"),
    ({"title": "t", "priority": "whenever"}, "one of low, normal"),
])
def test_a_wrong_element_fails_without_retry_and_sends_nothing(
        api: FakeTickets, task: dict[str, str], message: str) -> None:
    with pytest.raises(JobFailed, match=message) as caught:
        _run(api, task=task)

    assert caught.value.retryable is False
    assert api.requests == []


def test_without_the_api_url_setting_it_fails_without_retry(api: FakeTickets) -> None:
    with pytest.raises(JobFailed, match="LANEWAY_CONNECTOR_TICKET_API_URL") as caught:
        run_job(TicketConnector(), TASK, REPORT, secrets={"tickets_token": TOKEN})
    assert caught.value.retryable is False


def test_the_connectors_service_finds_it_by_its_entry_point() -> None:
    # the package is installed (make test: pip install -e examples/connector-template)
    (ep,) = [ep for ep in entry_points(group="laneway.connectors") if ep.name == "ticket"]
    assert ep.value == "laneway_connector_example:TicketConnector"

    found = discover()

    assert isinstance(found.connectors["ticket"], TicketConnector)
    assert found.sources["ticket"].endswith("(laneway-connector-example)")
