"""A restored partition keeps instances as their snapshot bytes until read
(services/engine/partitions.py `ParkedInstances`): a signal, a message and a timer still reach
an instance that was never decoded, the indexes a restore rebuilds are those of decoding
everything, and reading decodes only the instance read."""

from __future__ import annotations

import pytest

import services.engine.partitions as partitions
from laneway.bpmn import parse
from laneway.codec import StateSnapshot, decode_state, encode_state
from laneway.engine import DefinitionRepository
from laneway.engine.runner import LocalRunner
from laneway.engine.state import InstanceStatus
from laneway.records import Command
from services.engine.partitions import (
    ParkedInstances,
    PartitionState,
    build_partition,
    instance_snapshot,
    subscription_snapshot,
)

NS = ('xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"')
CATCH = """<process id="PROCESS" isExecutable="true"><startEvent id="s"/>
  <intermediateCatchEvent id="wait">EVENT</intermediateCatchEvent><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
  <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/></process>"""
SIGNAL = '<signal id="sg" name="go"/>' + CATCH.replace(
    "EVENT", '<signalEventDefinition signalRef="sg"/>')
MESSAGE = ('<message id="m" name="docs"><extensionElements>'
           '<zeebe:subscription correlationKey="=ref"/></extensionElements></message>'
           + CATCH.replace("EVENT", '<messageEventDefinition messageRef="m"/>'))
TIMER = CATCH.replace("EVENT", "<timerEventDefinition><timeDuration>PT1H</timeDuration>"
                               "</timerEventDefinition>")
USER_TASK = """<process id="PROCESS" isExecutable="true"><startEvent id="s"/>
  <userTask id="review"/><endEvent id="e"/>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="e"/></process>"""


def repository() -> DefinitionRepository:
    repo = DefinitionRepository()
    for pid, body in (("sig", SIGNAL), ("msg", MESSAGE), ("tm", TIMER), ("ut", USER_TASK)):
        repo.load(parse(f'<definitions {NS} id="d-{pid}" targetNamespace="t">'
                        f'{body.replace("PROCESS", pid)}</definitions>'.encode()), pid, 1)
    return repo


def parked_world(variables: dict[str, object] | None = None
                 ) -> tuple[LocalRunner, PartitionState, dict[str, str]]:
    """One instance of each diagram parked in a runner, and a partition restored from the
    snapshots (and subscription records) the engine service would have written for them."""
    repo = repository()
    runner = LocalRunner(repo, keep_records=False)
    ids = {pid: runner.start(pid, {"ref": "order-1", **(variables or {})})
           for pid in ("sig", "msg", "tm", "ut")}
    runner.drain()
    snapshots = []
    for iid in ids.values():
        inst = runner.instance(iid)
        assert inst is not None
        snapshots.append(instance_snapshot(inst, 1, 7))
    for (name, key), subs in runner.engine.state.message_subs.items():
        snapshots += [subscription_snapshot(0, name, key, sub, 1) for sub in subs.values()]
    return runner, build_partition(0, repo, snapshots), ids


def run_on(part: PartitionState, intent: Command, instance_id: str,
           value: dict[str, object], clock: int = 0) -> LocalRunner:
    """A runner whose engine is the restored partition's: the command (stamped `clock` when
    later than the runner's start) and every follow-up."""
    runner = LocalRunner(part.engine.repository, keep_records=False)
    runner.engine = part.engine
    runner.clock = max(runner.clock, clock)
    runner.submit(intent, instance_id, value)
    runner.drain(1000)
    return runner


def test_a_restore_decodes_no_instance_and_rebuilds_the_same_state() -> None:
    runner, part, _ids = parked_world()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert (len(instances), instances.parked()) == (4, 4)
    assert len(part.timers) == 1
    # what the restore rebuilt is what the engine that ran them holds (reading decodes)
    assert part.state.to_dict() == runner.engine.state.to_dict()
    assert instances.parked() == 0


def test_a_broadcast_signal_reaches_a_parked_instance() -> None:
    _runner, part, ids = parked_world()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.is_parked(ids["sig"])

    run_on(part, Command.BROADCAST_SIGNAL, "", {"name": "go", "variables": {}})

    assert instances[ids["sig"]].status == InstanceStatus.COMPLETED
    # only the instance the signal reached was read
    assert all(instances.is_parked(ids[p]) for p in ("msg", "tm", "ut"))


def test_a_message_correlates_to_a_parked_instance() -> None:
    _runner, part, ids = parked_world()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.is_parked(ids["msg"])

    run_on(part, Command.PUBLISH_MESSAGE, "", {
        "name": "docs", "correlationKey": "order-1", "variables": {"pages": 3},
        "messageId": "m-1", "ttl": 0})

    inst = instances[ids["msg"]]
    assert inst.status == InstanceStatus.COMPLETED
    assert all(instances.is_parked(ids[p]) for p in ("sig", "tm", "ut"))


def test_a_timer_of_a_parked_instance_fires_from_the_restored_heap() -> None:
    _runner, part, ids = parked_world()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.is_parked(ids["tm"])
    due = part.timers.next_due()
    assert due is not None

    [trigger] = part.timers.due(due, instances)
    run_on(part, Command(trigger.intent), trigger.instance_id, dict(trigger.value), due)

    assert trigger.instance_id == ids["tm"]
    assert instances[ids["tm"]].status == InstanceStatus.COMPLETED
    assert all(instances.is_parked(ids[p]) for p in ("sig", "msg", "ut"))


def test_variables_that_look_like_the_indexed_entries_do_not_hide_them() -> None:
    # `"timers": {}` and `"signal_subs": {}` as variables: the same bytes as the empty
    # entries the restore looks for, written before the real (non-empty) ones
    _runner, part, ids = parked_world({"timers": {}, "signal_subs": {}})

    assert len(part.timers) == 1
    assert set(part.state.signal_subs) == {"go"}
    [trigger] = part.timers.due(part.timers.next_due() or 0, part.state.instances)
    assert trigger.instance_id == ids["tm"]


def test_a_parked_instance_is_decoded_once_and_changes_stick() -> None:
    _runner, part, ids = parked_world()
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)

    first = instances.get(ids["ut"])
    assert first is not None
    first.business_key = "changed"

    assert instances.get(ids["ut"]) is first
    assert instances[ids["ut"]].business_key == "changed"
    assert instances.parked() == 3
    assert instances.get("nobody") is None
    with pytest.raises(KeyError):
        instances["nobody"]
    del instances[ids["sig"]]
    assert ids["sig"] not in instances
    assert sorted(instances) == sorted(ids[p] for p in ("msg", "tm", "ut"))


def test_an_instance_with_a_long_id_is_parked_and_read_back() -> None:
    # an id of 64 bytes or more takes two bytes of length: the restore's slower path
    repo = repository()
    runner = LocalRunner(repo, keep_records=False)
    long_id = "x" * 100
    runner.start("ut", {"ref": "r"}, instance_id=long_id)
    runner.drain()
    inst = runner.instance(long_id)
    assert inst is not None

    part = build_partition(0, repo, [instance_snapshot(inst, 1, 7)])

    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.is_parked(long_id)
    assert instances[long_id].to_dict() == inst.to_dict()


BOUNDARIES = """<signal id="sg" name="stop"/><process id="PROCESS" isExecutable="true">
  <startEvent id="s"/><userTask id="review"/><endEvent id="e"/><endEvent id="late"/>
  <boundaryEvent id="soon" attachedToRef="review" cancelActivity="false"><timerEventDefinition>
    <timeDuration>PT1H</timeDuration></timerEventDefinition></boundaryEvent>
  <boundaryEvent id="later" attachedToRef="review"><timerEventDefinition>
    <timeDuration>PT2H</timeDuration></timerEventDefinition></boundaryEvent>
  <boundaryEvent id="halt" attachedToRef="review"><signalEventDefinition signalRef="sg"/>
  </boundaryEvent>
  <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
  <sequenceFlow id="f2" sourceRef="review" targetRef="e"/>
  <sequenceFlow id="f3" sourceRef="soon" targetRef="late"/>
  <sequenceFlow id="f4" sourceRef="later" targetRef="late"/>
  <sequenceFlow id="f5" sourceRef="halt" targetRef="late"/></process>"""


def test_timers_and_signal_subscriptions_are_indexed_from_the_bytes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = repository()
    repo.load(parse(f'<definitions {NS} id="d-b" targetNamespace="t">'
                    f'{BOUNDARIES.replace("PROCESS", "b")}</definitions>'.encode()), "b", 1)
    runner = LocalRunner(repo, keep_records=False)
    ids = [runner.start("b", {"n": n}) for n in range(3)]
    runner.drain()
    decoded = [runner.instance(iid) for iid in ids]
    snapshots = [instance_snapshot(inst, 1, 7) for inst in decoded if inst is not None]
    whole: list[bytes] = []

    def counted(data: bytes) -> StateSnapshot:
        whole.append(data)
        return decode_state(data)

    monkeypatch.setattr(partitions, "decode_state", counted)

    part = build_partition(0, repo, snapshots)

    assert whole == []  # no snapshot was decoded to index it
    instances = part.state.instances
    assert isinstance(instances, ParkedInstances)
    assert instances.parked() == 3
    assert part.state.signal_subs == runner.engine.state.signal_subs
    assert len(part.state.signal_subs["stop"]) == 3
    expected = sorted((t.due, inst.instance_id, t.key) for inst in decoded if inst is not None
                      for t in inst.timers.values())
    assert len(expected) == 6
    due = part.timers.due(max(d for d, _, _ in expected), instances)
    # a trigger's record id is timer/<instance>/<key>/<due>
    assert sorted((int(c.record_id.rsplit("/", 1)[1]), c.instance_id, int(c.value["timerKey"]))
                  for c in due) == expected


def test_the_entry_reader_reads_every_kind_of_value_as_the_codec_does() -> None:
    entry = {"1": {"key": 1, "due": -(2**62), "none": None, "yes": True, "no": False,
                   "half": 0.5, "text": "zäh ✓", "list": [1, "a", [None, {"x": []}]],
                   "map": {"": {}, "deep": {"deeper": [2.25, -7]}}}}
    data = encode_state(StateSnapshot("i", "p", 1, "ACTIVE", 0,
                                      {"variables": {"1": {"v": "\x0ctimers"}},
                                       "timers": entry}))

    # the key's bytes occur twice: not sure which is the entry
    assert partitions._entry(data, partitions._TIMERS) is None
    assert partitions._entry(data, b"\x0atimers") is None  # no such key
    alone = encode_state(StateSnapshot("i", "p", 1, "ACTIVE", 0, {"timers": entry}))
    assert partitions._entry(alone, partitions._TIMERS) == decode_state(alone).state["timers"]
    assert partitions._entry(alone, partitions._TIMERS) == entry
    # cut short: no value, the snapshot is decoded whole
    assert partitions._entry(alone[:-20], partitions._TIMERS) is None
