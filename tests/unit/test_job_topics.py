"""Every job type names a topic Kafka takes (laneway/topics.py `job_topic_part`): Zeebe's
connector types have colons (`io.camunda:http-json:1`), which no topic name may have, and
creating `jobs.<type>` for one failed at the first job."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from laneway.topics import Topics, job_topic_part

# Kafka's rule for a topic name (kafka.common.internals.Topic)
LEGAL = re.compile(r"[A-Za-z0-9._-]{1,249}")
TOPICS = Topics("laneway.")


@given(st.text(min_size=1, max_size=400))
def test_any_job_type_names_a_legal_topic(job_type: str) -> None:
    assert LEGAL.fullmatch(TOPICS.jobs(job_type))


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_two_job_types_never_share_a_topic(a: str, b: str) -> None:
    if a != b:
        assert job_topic_part(a) != job_topic_part(b)


def test_a_legal_type_is_its_own_name_and_a_zeebe_type_keeps_its_letters() -> None:
    assert TOPICS.jobs("email") == "laneway.jobs.email"
    zeebe = job_topic_part("io.camunda:http-json:1")
    assert zeebe.startswith("io.camunda_http-json_1-")
    assert job_topic_part("io.camunda:http-json:1") == zeebe  # the same on every replica
