"""Which topics `python -m scripts.stack clean-topics` may delete (scripts/stack/topics.py)."""

from __future__ import annotations

from scripts.stack.config import Settings
from scripts.stack.topics import is_stack_topic, laneway_topics


def test_the_stacks_topics_and_kafkas_are_protected_and_leftovers_are_not() -> None:
    settings = Settings.from_env({"LANEWAY_TOPIC_PREFIX": "laneway.",
                                  "LANEWAY_JOB_TYPES": "http,email"})
    for spec in laneway_topics(settings):
        assert is_stack_topic(spec.name, settings), spec.name
    # a job type's topic the engine made for a newly deployed diagram
    assert is_stack_topic("laneway.jobs.invoice", settings)
    assert is_stack_topic("__consumer_offsets", settings)
    assert is_stack_topic("__transaction_state", settings)
    for leftover in ("e2e-0123456789ab.commands", "bench.raw-0123456789ab",
                     "test.stack-0123456789ab", "lanewaycommands"):
        assert not is_stack_topic(leftover, settings), leftover


def test_an_empty_prefix_protects_every_topic() -> None:
    settings = Settings.from_env({"LANEWAY_TOPIC_PREFIX": ""})
    assert is_stack_topic("e2e-0123456789ab.commands", settings)
