"""The `response` connector against a real SMTP server (aiosmtpd), and the runtime's `Pending`:
a job left open sends no command and is not run again when redelivered."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator, Mapping
from email import message_from_bytes, policy
from typing import Any, cast

import httpx
import pytest

from laneway.codec import JobRecord
from laneway.connectors import ConnectorContext, Job, JobFailed, Pending, Secrets
from laneway.connectors.builtin.response import ResponseConnector
from laneway.records import Principal, PrincipalKind
from laneway.response_tokens import verify
from services.connectors.execute import PENDING, Runtime, execute
from services.connectors.idempotency import IdempotencyStore
from tests.mail_kit import Mailbox, smtp_server, smtp_url
from tests.unit.test_connectors_execute import MemoryStore

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
INSTANCE = "0b3f6a7e-5d1c-4e2b-8a9f-6c7d8e9f0a1b"
KEY = "response-signing-key-" + "x" * 24
NOW = 1_800_000_000.0
PUBLIC = "https://laneway.example.org"


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def port(mailbox: Mailbox) -> Iterator[int]:
    with smtp_server(mailbox, auth_require_tls=False) as port:
        yield port


def _job(attrs: Mapping[str, str], key: int = 23, created_ms: int = 0) -> Job:
    return Job(instance_id=INSTANCE, key=key, element_id="ask", element_name="Approve?",
               type="response", lane=None, persona=None, attributes=dict(attrs),
               variables={"citizen": {"email": "ada@example.org"}}, headers={}, retries=3,
               created_ms=created_ms)


def _secrets(port: int = 1) -> Secrets:
    return Secrets({"LANEWAY_SECRET_RESPONSE_SIGNING_KEY": KEY,
                    "LANEWAY_SECRET_SMTP": smtp_url(port, "noreply@city.example")}, "/nonexistent")


def _run(job: Job, secrets: Secrets, settings: Mapping[str, str] | None = None
         ) -> Mapping[str, Any] | Pending:
    async def go() -> Mapping[str, Any] | Pending:
        async with httpx.AsyncClient() as http:
            ctx = ConnectorContext(secrets=secrets, http=http,
                                   log=logging.LoggerAdapter(logging.getLogger("test")),
                                   idempotency_key=job.idempotency_key, timeout=5.0,
                                   settings=dict(settings if settings is not None
                                                 else {"public_url": PUBLIC + "/"}))
            return await ResponseConnector(clock=lambda: NOW).run(job, ctx)
    return asyncio.run(go())


MAIL = {"laneway:to": "{{ citizen.email }}", "laneway:subject": "Your answer, please",
        "laneway:body": "Answer here: {{ responseUrl }}", "laneway:deadline": "PT2H",
        "laneway:fields": "decision, comment", "laneway:title": "Approve for {{ citizen.email }}?"}


def test_mode_task_mails_a_signed_link_and_leaves_the_job_open(mailbox: Mailbox,
                                                                port: int) -> None:
    result = _run(_job(MAIL), _secrets(port))

    assert isinstance(result, Pending)
    ((_, rcpt, content),) = mailbox.messages
    assert rcpt == ["ada@example.org"]
    body = message_from_bytes(content, policy=policy.default).get_content()  # type: ignore[attr-defined]
    found = re.search(r"https://laneway\.example\.org/respond/(\S+)", body)
    assert found is not None
    token = verify(KEY, found.group(1), NOW)
    assert (token.instance_id, token.job_key, token.message) == (INSTANCE, 23, None)
    assert token.expires_s == NOW + 7200 - 2  # the guard: 2 s before the deadline
    assert token.fields == ("decision", "comment")
    assert token.title == "Approve for ada@example.org?"
    # the same job makes the same link id (a retry or redelivery: one answer for all)
    again = _run(_job(MAIL), _secrets(port))
    assert isinstance(again, Pending)
    second = re.search(r"/respond/(\S+)", message_from_bytes(
        mailbox.messages[1][2], policy=policy.default).get_content())  # type: ignore[attr-defined]
    assert second is not None
    assert verify(KEY, second.group(1), NOW).token_id == token.token_id
    assert _run(_job(MAIL, key=24), _secrets(port)) is not None
    other = re.search(r"/respond/(\S+)", message_from_bytes(
        mailbox.messages[2][2], policy=policy.default).get_content())  # type: ignore[attr-defined]
    assert other is not None
    assert verify(KEY, other.group(1), NOW).token_id != token.token_id


def test_mode_message_without_sending_returns_the_link() -> None:
    result = _run(_job({"laneway:mode": "message", "laneway:message": "answer-received",
                        "laneway:send": "none", "laneway:resultVariable": "answer"}),
                  _secrets())

    assert isinstance(result, Mapping)
    assert set(result) == {"responseUrl", "responseId", "responseExpires"}
    token = verify(KEY, result["responseUrl"].removeprefix(PUBLIC + "/respond/"), NOW)
    assert (token.job_key, token.message, token.result) == (None, "answer-received", "answer")
    assert token.token_id == result["responseId"]
    assert token.expires_s == result["responseExpires"] == NOW + 7 * 86400 - 2
    assert token.fields == ("answer",)
    assert token.title == "Approve?"  # the element's name when no laneway:title


@pytest.mark.parametrize(("attrs", "settings", "expected"), [
    ({"laneway:send": "none"}, None, "cannot hand its link"),
    ({"laneway:mode": "later"}, None, "laneway:mode"),
    ({"laneway:mode": "message", "laneway:send": "none"}, None, "laneway:message"),
    ({"laneway:deadline": "P2Y", "laneway:send": "none"}, None, "laneway:deadline"),
    ({"laneway:deadline": "PT0S", "laneway:send": "none"}, None, "laneway:deadline"),
    ({"laneway:fields": "a b", "laneway:send": "none"}, None, "laneway:fields"),
    ({"laneway:mode": "message", "laneway:message": "m", "laneway:send": "none"},
     {}, "PUBLIC_URL"),
    ({"laneway:resultVariable": "not a name", "laneway:send": "none"}, None,
     "resultVariable"),
])
def test_malformed_attributes_fail_without_retry(attrs: Mapping[str, str],
                                                 settings: Mapping[str, str] | None,
                                                 expected: str) -> None:
    with pytest.raises(JobFailed, match=expected) as failed:
        _run(_job(attrs), _secrets(), settings)
    assert not failed.value.retryable
    assert KEY not in failed.value.message


def test_a_missing_or_short_signing_key_fails_without_retry() -> None:
    for env in ({}, {"LANEWAY_SECRET_RESPONSE_SIGNING_KEY": "short"}):
        with pytest.raises(JobFailed, match="response_signing_key") as failed:
            _run(_job({"laneway:send": "none"}), Secrets(env, "/nonexistent"))
        assert not failed.value.retryable


def _record(key: int = 9, timestamp: int = 1) -> JobRecord:
    return JobRecord(record_id=f"job-created-{key}", instance_id=INSTANCE, element_id="ask",
                     element_type="serviceTask", token_id=4, scope_id=1,
                     principal=Principal(PrincipalKind.SYSTEM, "engine"), timestamp=timestamp,
                     key=key, type="response", retries=3,
                     attributes={"laneway:to": "ada@example.org",
                                 "laneway:body": "{{ responseUrl }}"}, variables={})


def test_a_pending_job_sends_no_command_and_a_redelivery_does_not_mail_again(
        mailbox: Mailbox, port: int) -> None:
    store = MemoryStore()
    emitted: list[bytes] = []
    created = int(time.time() * 1000) - 60_000  # the engine created the job a minute ago

    async def emit(key: str, data: bytes) -> None:
        emitted.append(data)

    async def go() -> list[str]:
        async with httpx.AsyncClient() as http:
            rt = Runtime(connector=ResponseConnector(), secrets=_secrets(port), http=http,
                         store=cast(IdempotencyStore, store), emit=emit,
                         slots=asyncio.Semaphore(4), settings={"public_url": PUBLIC})
            record = _record(timestamp=created)
            return [await execute(record, rt), await execute(record, rt)]

    assert asyncio.run(go()) == [PENDING, "REPLAYED"]
    assert emitted == []
    assert len(mailbox.messages) == 1
    assert [intent for _, intent, _ in store.done.values()] == [PENDING]
    # the link's expiry counts from the JOB_CREATED record's timestamp (the runtime hands it
    # on as Job.created_ms), as the element's boundary timer does: P7D less the 2 s guard
    body = message_from_bytes(mailbox.messages[0][2], policy=policy.default).get_content()  # type: ignore[attr-defined]
    found = re.search(r"/respond/(\S+)", body)
    assert found is not None
    assert verify(KEY, found.group(1), time.time()).expires_s == \
        (created + 7 * 86400_000 - 2000) // 1000


def test_the_link_expires_a_deadline_after_the_job_was_created_not_after_the_connector_ran(
        mailbox: Mailbox, port: int) -> None:
    # the engine created the job (and started the PT2H boundary timer) an hour before the
    # connector ran (a backlog): the link closes with the timer, not an hour after it
    created = int((NOW - 3600) * 1000)
    result = _run(_job(MAIL, created_ms=created), _secrets(port))
    assert isinstance(result, Pending)
    body = message_from_bytes(mailbox.messages[0][2], policy=policy.default).get_content()  # type: ignore[attr-defined]
    found = re.search(r"/respond/(\S+)", body)
    assert found is not None
    assert verify(KEY, found.group(1), NOW).expires_s == NOW - 3600 + 7200 - 2
    # a short deadline's guard is a tenth of it
    short = _run(_job({**MAIL, "laneway:mode": "message", "laneway:message": "m",
                       "laneway:send": "none", "laneway:deadline": "PT5S"},
                      created_ms=int(NOW * 1000)), _secrets(port))
    assert isinstance(short, Mapping)
    assert short["responseExpires"] == (int(NOW * 1000) + 5000 - 500) // 1000


def test_a_job_whose_deadline_passed_before_it_ran_mails_no_link(mailbox: Mailbox,
                                                                  port: int) -> None:
    result = _run(_job(MAIL, created_ms=int((NOW - 7200) * 1000)), _secrets(port))
    assert isinstance(result, Pending)
    assert mailbox.messages == []


def test_it_declares_every_attribute_the_mail_it_sends_reads() -> None:
    # the link goes out through email's build_message, which reads bcc too: the modeler's form
    # and the deploy check must offer what docs/connectors.md promises (`send` email)
    declared = {a.name for a in ResponseConnector.attributes}
    assert {"smtp", "to", "cc", "bcc", "from", "subject", "body"} <= declared
