"""The last instances a batch parked keep their decoded object as well
(services/engine/partitions.py `ParkedInstances`, `warm`): read again soon, they are not
decoded from their bytes; the oldest lose it once more were parked, and a newer state of an
instance (parked again, set or deleted) never leaves an older object behind."""

from __future__ import annotations

from laneway.codec import decode_state
from laneway.engine.state import InstanceState
from services.engine.partitions import ParkedInstances, instance_snapshot
from tests.unit.test_parked_instances import parked_world


def _instances(warm: int) -> tuple[ParkedInstances, dict[str, InstanceState], list[str]]:
    """Parked instances with a decoder that counts its calls in `decoded`, and the decoded
    state of each instance by id."""
    runner, _part, ids = parked_world()
    states: dict[str, InstanceState] = {}
    for iid in ids.values():
        inst = runner.instance(iid)
        assert inst is not None
        states[iid] = inst
    decoded: list[str] = []

    def decode(snapshot: bytes) -> InstanceState:
        inst = decode_state(snapshot).instance()
        decoded.append(inst.instance_id)
        return inst

    return ParkedInstances(decode, {}, warm), states, decoded


def test_an_instance_read_soon_after_it_was_parked_is_not_decoded_again() -> None:
    instances, states, decoded = _instances(warm=10)
    iid, inst = next(iter(states.items()))
    instances.park(iid, instance_snapshot(inst, 1, 7), inst)
    assert instances.is_parked(iid)
    assert instances.warm() == 1
    assert instances[iid] is inst
    assert decoded == []
    assert not instances.is_parked(iid)
    assert instances.warm() == 0


def test_the_oldest_parked_lose_their_object_beyond_the_limit() -> None:
    instances, states, decoded = _instances(warm=2)
    order = list(states)
    for iid in order:
        instances.park(iid, instance_snapshot(states[iid], 1, 7), states[iid])
    assert instances.warm() == 2
    # the first two parked are decoded from their bytes; the last two are the objects
    for iid in order:
        assert instances[iid].to_dict() == states[iid].to_dict()
    assert decoded == order[:2]
    assert instances[order[-1]] is states[order[-1]]


def test_a_newer_state_never_leaves_an_older_object_behind() -> None:
    instances, states, decoded = _instances(warm=10)
    iid, inst = next(iter(states.items()))
    instances.park(iid, instance_snapshot(inst, 1, 7), inst)
    # parked again without its object (as a restore does): the bytes are what is read
    instances.park(iid, instance_snapshot(inst, 2, 8))
    assert instances.warm() == 0
    assert instances[iid] is not inst
    assert decoded == [iid]
    # set or deleted while warm: the warm object goes too
    other, other_inst = list(states.items())[1]
    instances.park(other, instance_snapshot(other_inst, 1, 7), other_inst)
    del instances[other]
    assert instances.warm() == 0
    instances.park(other, instance_snapshot(other_inst, 1, 7), other_inst)
    instances[other] = other_inst
    assert instances.warm() == 0
