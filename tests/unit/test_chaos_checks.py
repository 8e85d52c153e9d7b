"""The chaos run's invariants (benchmarks/chaos/checks.py) over made-up records, keys and rows:
each one holds for a clean run and names the instances (or records) that break it."""

from __future__ import annotations

from collections import Counter

from benchmarks.chaos.checks import Outcome, audit_checks, engine_checks, side_effect_checks
from laneway.records import Record, RecordKind

PID = "chaos_p"


def _event(iid: str, n: int, intent: str, element_id: str = "", element_type: str = "",
           kind: RecordKind = RecordKind.EVENT, record_id: str | None = None) -> Record:
    return Record(record_id=record_id or f"{iid}-cmd.{n}", kind=kind, intent=intent,
                  instance_id=iid, timestamp=n, element_id=element_id,
                  element_type=element_type)


def _instance(iid: str, *, complete: bool = True, timers: int = 1) -> list[Record]:
    steps = [("ELEMENT_ACTIVATED", PID, "process"), ("JOB_CREATED", "call", "serviceTask"),
             ("USER_TASK_COMPLETED", "review", "userTask"),
             ("ELEMENT_COMPLETED", "go", "intermediateCatchEvent")]
    steps += [("TIMER_TRIGGERED", "pause", "intermediateCatchEvent")] * timers
    if complete:
        steps.append(("ELEMENT_COMPLETED", PID, "process"))
    return [_event(iid, n, *step) for n, step in enumerate(steps)]


def test_a_clean_run_breaks_no_invariant() -> None:
    records = _instance("a") + _instance("b")
    out = Outcome()
    started, completed = engine_checks(records, PID, {"chaos-0": "a", "chaos-1": "b"}, out)
    audit_checks(records, Counter(r.record_id for r in records), out)
    side_effect_checks(["a:3", "b:3", "b:3"], completed, out)  # a repeat under its key
    assert out.ok, out.failures
    assert started == completed == {"a", "b"}
    assert out.figures["repeats with the same key (allowed)"] == 1


def test_lost_and_unfinished_instances_and_a_step_twice_are_named() -> None:
    records = _instance("a", complete=False) + _instance("b", timers=2) + _instance("c")
    out = Outcome()
    engine_checks(records, PID, {"chaos-0": "a", "chaos-1": "b", "chaos-2": "c",
                                 "chaos-3": "lost"}, out)
    assert out.failures == {"acknowledged start never started": ["lost"],
                            "started but not completed": ["a"],
                            "timer fired not exactly once": ["b"]}


def test_a_missing_row_an_extra_row_and_a_record_id_twice_fail_the_audit() -> None:
    records = _instance("a")
    repeated = _event("a", 9, "COMPLETE_JOB", kind=RecordKind.REJECTION, record_id="job-cmd.r0")
    records += [repeated, repeated]
    rows = Counter(r.record_id for r in records[1:])  # the first record has no row
    rows["stray"] = 1
    out = Outcome()
    audit_checks(records, rows, out)
    assert out.failures["record without an audit row"] == [records[0].record_id]
    assert out.failures["audit row without a record"] == ["stray"]
    assert out.failures["audit row twice"] == ["job-cmd.r0"]
    (twice,) = out.failures["record id twice on events (the audit keeps one row for both)"]
    assert twice.startswith("job-cmd.r0 (REJECTION COMPLETE_JOB of a)")


def test_a_side_effect_without_a_key_under_two_keys_or_missing_fails() -> None:
    out = Outcome()
    side_effect_checks(["a:3", "a:4", "", "b:3"], {"a", "b", "c"}, out)
    assert out.failures == {"side effect without an idempotency key": ["(1 requests)"],
                            "side effect twice with different keys": ["a"],
                            "completed without its side effect": ["c"]}


def test_a_repeated_record_id_names_where_each_copy_was_read() -> None:
    records = _instance("a")
    records.append(records[-1])
    where = [(1, n, 1000 + n) for n in range(len(records))]
    out = Outcome()
    audit_checks(records, Counter(r.record_id for r in records[:-1]), out, where)
    (twice,) = out.failures["record id twice on events (the audit keeps one row for both)"]
    assert twice.endswith("at p1@5 t1005, p1@6 t1006")
