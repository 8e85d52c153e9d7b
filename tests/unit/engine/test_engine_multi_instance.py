"""Multi-instance activities (parallel, sequential, cardinality, completion condition, empty
collection) and standard loops."""

from __future__ import annotations

from conftest import RunFn


def mi(sequential: bool, completion: str = "", body: str = "", collection: str = "=items",
       output: bool = True) -> str:
    out = ('outputCollection="results" outputElement="=result"' if output else "")
    cond = (f"<completionCondition>{completion}</completionCondition>" if completion else "")
    return f"""
    <startEvent id="s"/>
    <serviceTask id="each" laneway:type="w">
      <multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}">
        <extensionElements>
          <zeebe:loopCharacteristics inputCollection="{collection}" inputElement="item"
            {out}/>
        </extensionElements>
        {cond}
      </multiInstanceLoopCharacteristics>
    </serviceTask>
    {body}
    <userTask id="after"/>
    @ s -> each -> after
    """


def _jobs(h: object) -> list[tuple[int, object]]:
    from conftest import Harness

    assert isinstance(h, Harness)
    return [(r.value["key"], r.value["variables"]["item"]) for r in h.events("JOB_CREATED")]


def _complete(h: object, key: int, variables: dict[str, object]) -> None:
    from conftest import Harness

    from laneway.records import Command

    assert isinstance(h, Harness)
    h.send(Command.COMPLETE_JOB, h.iid, {"jobKey": key, "variables": variables})


def test_parallel_multi_instance_collects_output_in_input_order(run: RunFn) -> None:
    h = run(mi(sequential=False), variables={"items": ["a", "b", "c"]})
    jobs = _jobs(h)
    assert [item for _, item in jobs] == ["a", "b", "c"]
    # when they complete in reverse order
    for key, item in reversed(jobs):
        _complete(h, key, {"result": f"{item}!"})
    # then the output collection follows the input collection
    assert h.variables(h.iid)["results"] == ["a!", "b!", "c!"]
    assert h.activated()[-1] == "after"
    # the element variable and loop counter stayed local to each instance
    assert "item" not in h.variables(h.iid)
    assert "loopCounter" not in h.variables(h.iid)


def test_sequential_multi_instance_runs_one_after_another(run: RunFn) -> None:
    h = run(mi(sequential=True), variables={"items": [1, 2, 3]})
    for expected in (1, 2, 3):
        [(key, item)] = [j for j in _jobs(h) if j[1] == expected]
        assert len(h.events("JOB_CREATED")) == expected
        _complete(h, key, {"result": item * 10})
    assert h.variables(h.iid)["results"] == [10, 20, 30]
    assert h.activated()[-1] == "after"


def test_cardinality_creates_that_many_instances(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <userTask id="vote">
      <multiInstanceLoopCharacteristics>
        <loopCardinality>=voters</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </userTask>
    <endEvent id="e"/>
    @ s -> vote -> e
    """, variables={"voters": 3})
    created = h.events("USER_TASK_CREATED", "vote")
    assert [r.value["variables"]["loopCounter"] for r in created] == [1, 2, 3]
    for _ in range(3):
        from laneway.records import Command

        open_tasks = [r for r in created if not any(
            c.value["key"] == r.value["key"] for c in h.events("USER_TASK_COMPLETED"))]
        h.send(Command.COMPLETE_USER_TASK, h.iid, {"taskKey": open_tasks[0].value["key"]})
    assert h.status(h.iid) == "COMPLETED"


def test_completion_condition_stops_the_remaining_instances(run: RunFn) -> None:
    h = run(mi(sequential=False, completion="=nrOfCompletedInstances >= 2"),
            variables={"items": ["a", "b", "c", "d"]})
    jobs = _jobs(h)
    _complete(h, jobs[3][0], {"result": "D"})
    assert "after" not in h.activated()
    _complete(h, jobs[1][0], {"result": "B"})
    # the two still running are terminated and their jobs cancelled
    assert h.terminated() == ["each", "each"]
    assert len(h.events("JOB_CANCELED")) == 2
    assert h.variables(h.iid)["results"] == [None, "B", None, "D"]
    assert h.activated()[-1] == "after"


def test_empty_collection_completes_the_body_at_once(run: RunFn) -> None:
    h = run(mi(sequential=False), variables={"items": []})
    assert h.events("JOB_CREATED") == []
    assert h.variables(h.iid)["results"] == []
    assert h.activated()[-1] == "after"


def test_a_collection_that_is_not_a_list_raises_an_incident(run: RunFn) -> None:
    h = run(mi(sequential=False), variables={"items": "abc"})
    assert h.last("INCIDENT_CREATED", "each").value["errorType"] == "EXTRACT_VALUE_ERROR"
    assert h.status(h.iid) == "INCIDENT"


def test_standard_loop_repeats_while_the_condition_holds(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <scriptTask id="count">
      <extensionElements><zeebe:script expression="=n + 1" resultVariable="n"/>
      </extensionElements>
      <standardLoopCharacteristics><loopCondition>=n &lt; 3</loopCondition>
      </standardLoopCharacteristics>
    </scriptTask>
    <endEvent id="e"/>
    @ s -> count -> e
    """, variables={"n": 0})
    assert h.activated().count("count") == 3
    counters = [r.value["variables"]["loopCounter"] for r in h.events("VARIABLES_UPDATED", "count")
                if "loopCounter" in r.value["variables"]]
    assert counters == [2, 3]
    assert h.variables(h.iid) == {"n": 3}
    assert h.status(h.iid) == "COMPLETED"


def test_standard_loop_stops_at_its_maximum(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="again">
      <standardLoopCharacteristics loopMaximum="4"><loopCondition>=true</loopCondition>
      </standardLoopCharacteristics>
    </task>
    <endEvent id="e"/>
    @ s -> again -> e
    """)
    assert h.activated().count("again") == 4
    assert h.status(h.iid) == "COMPLETED"


def test_standard_loop_condition_sees_the_loop_counter(run: RunFn) -> None:
    h = run("""
    <startEvent id="s"/>
    <task id="again">
      <standardLoopCharacteristics><loopCondition>=loopCounter &lt; 2</loopCondition>
      </standardLoopCharacteristics>
    </task>
    <endEvent id="e"/>
    @ s -> again -> e
    """)
    assert h.activated().count("again") == 2
