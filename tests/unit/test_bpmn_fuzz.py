"""Fuzz of the BPMN reader: whatever bytes come, a model or a DiagramError, never anything else.

Two sources of input: the third-party corpus (`../shared/corpus`) with random mutations (bytes
cut, repeated, replaced; XML fragments, DOCTYPEs, namespace declarations and references
inserted), and diagrams generated from BPMN's own element and attribute names with ids from a
small pool, so references sometimes hold. Each input goes through what a deploy does: `parse`,
`validate` and the engine's deploy check and index; each may only return or raise
`DiagramError`. A hang shows as hypothesis' deadline.

`make test` runs a bounded number of examples (a few seconds); `LANEWAY_FUZZ_EXAMPLES` sets how
many the three tests run together, e.g. for the long run (`make fuzz`, docs/bpmn.md):

    LANEWAY_FUZZ_EXAMPLES=100000 .venv/bin/python -m pytest -q tests/unit/test_bpmn_fuzz.py \
        --timeout=0 --hypothesis-show-statistics

(`--timeout=0`: such a run takes longer than the suite's per-test timeout.)
"""

from __future__ import annotations

import csv
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laneway.bpmn import parse, validate
from laneway.engine import DefinitionRepository
from laneway.expr import compile_expression
from laneway.problems import DiagramError
from tests.unit.corpus_cases import corpus_dir

pytestmark = pytest.mark.fuzz

# the total over the three tests, as the API fuzz reads it (`make fuzz` sets it for both)
_TOTAL = int(os.environ.get("LANEWAY_FUZZ_EXAMPLES", "0") or 0)
EXAMPLES = max(1, -(-_TOTAL // 3)) if _TOTAL else 150
# generous: the largest corpus file reads in about 0.1 s, but the machine may be shared; a
# hang is minutes
FUZZ = settings(
    max_examples=EXAMPLES,
    # `make test`: the same inputs every run (repeatable); the long run: random ones
    derandomize=not _TOTAL,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def _corpus_files() -> list[bytes]:
    manifest = corpus_dir() / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    # the small ones: mutations of a 200 KiB file cost time and find nothing more
    paths = [corpus_dir() / r["corpus_path"] for r in rows if int(r["bytes"] or 0) < 40_000]
    return sorted((p.read_bytes() for p in paths if p.is_file()), key=len)


CORPUS = _corpus_files()
# The expression parser is built on first use, which takes seconds: built here, so that no
# example pays for it (hypothesis would see one slow run of an input that is fast again, and
# fail the test as flaky).
compile_expression("1")


def _read_as_a_deploy_does(data: bytes) -> None:
    """Only a model or DiagramError may come out of each step."""
    refused: list[DiagramError] = []
    try:
        definitions = parse(data, "fuzz.bpmn")
        validate(definitions)
        DefinitionRepository().deploy(definitions)
    except DiagramError as exc:
        refused.append(exc)
    # a refusal names at least one problem
    assert all(exc.problems for exc in refused)


# -- mutated corpus files ------------------------------------------------------------------

_FRAGMENTS = [
    b"<", b">", b"/>", b'"', b"'", b"&", b"&amp;", b"&#0;", b"&#x110000;", b"&e;", b"]]>",
    b"<![CDATA[", b"<!--", b"-->", b"<?pi x?>", b"\x00", b"\xff\xfe", b"\xc3", b"\n",
    b"<!DOCTYPE d>", b'<!DOCTYPE d [<!ENTITY e "x">]>', b'<!DOCTYPE d [<!ATTLIST x a "b">]>',
    b'xmlns="urn:x" ', b'xmlns:bpmn="urn:other" ', b'xmlns:laneway="urn:x" ',
    b'xmlns:p="http://laneway.dev/schema/1.0/bpmn" p:type="t" ', b'id="dup" ', b'id="" ',
    b'sourceRef="dup" ', b'targetRef="nowhere" ', b'attachedToRef="dup" ', b'default="dup" ',
    b'isExecutable="false" ', b'laneway:retries="-1" ', b'laneway:slaMinutes="x" ',
    b'<task id="dup"/>', b'<bpmn:task id="dup"/>', b'<sequenceFlow sourceRef="a"/>',
    b"<bpmn:subProcess>", b"</bpmn:subProcess>", b"<bpmn:startEvent/>", b"<bpmn:endEvent/>",
    b"<bpmn:extensionElements><zeebe:ioMapping/></bpmn:extensionElements>",
    b"<bpmn:timerEventDefinition><bpmn:timeCycle>R/PT0S</bpmn:timeCycle>"
    b"</bpmn:timerEventDefinition>",
    b"<bpmn:conditionExpression>${</bpmn:conditionExpression>",
    b"<bpmn:multiInstanceLoopCharacteristics/>", b"<bpmn:linkEventDefinition/>",
]

_mutation = st.one_of(
    st.tuples(st.just("cut"), st.integers(0, 2**20), st.integers(1, 200)),
    st.tuples(st.just("repeat"), st.integers(0, 2**20), st.integers(1, 200)),
    st.tuples(st.just("byte"), st.integers(0, 2**20), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.sampled_from(_FRAGMENTS)),
    st.tuples(st.just("noise"), st.integers(0, 2**20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("truncate"), st.integers(0, 2**20), st.just(0)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, object]]) -> bytes:
    out = bytearray(data)
    for op, where, arg in mutations:
        at = where % (len(out) + 1)
        if op == "cut":
            assert isinstance(arg, int)
            del out[at:at + arg]
        elif op == "repeat":
            assert isinstance(arg, int)
            out[at:at] = out[at:at + arg]
        elif op == "byte" and at < len(out):
            assert isinstance(arg, int)
            out[at] = arg
        elif op in ("insert", "noise"):
            assert isinstance(arg, bytes)
            out[at:at] = arg
        elif op == "truncate":
            del out[at:]
    return bytes(out)


@pytest.mark.skipif(not CORPUS, reason=f"no corpus at {corpus_dir()}")
@FUZZ
@given(st.data(), st.lists(_mutation, min_size=1, max_size=8))
def test_mutated_corpus_files_give_a_model_or_a_diagram_error(
    data: st.DataObject, mutations: list[tuple[str, int, object]]
) -> None:
    original = data.draw(st.sampled_from(CORPUS), label="corpus file")

    _read_as_a_deploy_does(_mutate(original, mutations))


# -- generated diagrams --------------------------------------------------------------------

_IDS = ["a", "b", "c", "d", "s", "e", "dup", "tns:a", ""]
_TAGS = [
    "process", "subProcess", "transaction", "adHocSubProcess", "startEvent", "endEvent",
    "task", "userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "callActivity",
    "businessRuleTask", "manualTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "sequenceFlow", "laneSet", "lane", "childLaneSet", "flowNodeRef",
    "messageEventDefinition", "timerEventDefinition", "timeDuration", "timeCycle", "timeDate",
    "signalEventDefinition", "errorEventDefinition", "escalationEventDefinition",
    "linkEventDefinition", "conditionalEventDefinition", "condition", "terminateEventDefinition",
    "compensateEventDefinition", "cancelEventDefinition", "eventDefinitionRef",
    "conditionExpression", "standardLoopCharacteristics", "loopCondition",
    "multiInstanceLoopCharacteristics", "loopCardinality", "completionCondition",
    "loopDataInputRef", "inputDataItem", "script", "dataObject", "dataObjectReference",
    "dataStoreReference", "property", "documentation", "extensionElements", "message", "signal",
    "error", "escalation", "dataStore", "collaboration", "participant", "messageFlow",
    "potentialOwner", "humanPerformer", "resourceAssignmentExpression", "formalExpression",
]
_ATTRS = [
    "id", "name", "sourceRef", "targetRef", "attachedToRef", "default", "isExecutable",
    "cancelActivity", "triggeredByEvent", "isForCompensation", "messageRef", "signalRef",
    "errorRef", "escalationRef", "activityRef", "processRef", "calledElement", "loopMaximum",
    "isSequential", "instantiate", "dataObjectRef", "dataStoreRef", "errorCode", "language",
    "scriptFormat", "gatewayDirection", "laneway:type", "laneway:retries", "laneway:decision",
    "laneway:persona", "laneway:slaMinutes", "laneway:form", "zeebe:x", "acme:y",
]
_VALUES = st.one_of(st.sampled_from(_IDS), st.sampled_from(["true", "false", "0", "-1", "1e9"]),
                    st.text(max_size=12))
_TEXTS = st.one_of(st.none(), st.sampled_from(["=a > 1", "${a}", "PT1S", "R/PT0S", "a", "x ="]),
                   st.text(max_size=20))


def _escape(text: str) -> str:
    # the generated text is XML-escaped, but may hold characters XML does not allow
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


@st.composite
def _element(draw: st.DrawFn, children: st.SearchStrategy[list[str]]) -> str:
    tag = draw(st.sampled_from(_TAGS))
    attrs = draw(st.dictionaries(st.sampled_from(_ATTRS), _VALUES, max_size=5))
    text = draw(_TEXTS)
    inner = "".join(draw(children)) + (_escape(text) if text else "")
    written = " ".join(f'{k}="{_escape(v)}"' for k, v in attrs.items())
    return f"<bpmn:{tag} {written}>{inner}</bpmn:{tag}>"


_TREES = st.recursive(
    st.just(""),
    lambda inner: _element(st.lists(inner, max_size=5)),
    max_leaves=40,
)
_HEAD = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:laneway="http://laneway.dev/schema/1.0/bpmn" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:acme="urn:acme" '
    'xmlns:tns="urn:t" id="defs">'
)


@FUZZ
@given(st.lists(_TREES, max_size=4))
def test_generated_diagrams_give_a_model_or_a_diagram_error(trees: list[str]) -> None:
    try:
        data = (_HEAD + "".join(trees) + "</bpmn:definitions>").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from st.text: not a file anyone can send
        return

    _read_as_a_deploy_does(data)


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_diagram_error(data: bytes) -> None:
    with pytest.raises(DiagramError):
        parse(data, "noise.bpmn")

