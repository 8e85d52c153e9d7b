"""Every third-party corpus file: parsed or refused with a clear reason, round-tripped, validated.

The corpus lives beside the repository (`../shared/corpus`, or `$LANEWAY_CORPUS`) and is read in
place. Which files are refused, and what validation finds in the executable ones, is written out
below file by file, so a change in behaviour on any of them fails a test.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from lxml import etree

from laneway.bpmn import SetAttribute, export, parse, validate
from laneway.model import Definitions
from laneway.problems import DiagramError


def _corpus_dir() -> Path:
    env = os.environ.get("LANEWAY_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


CORPUS = _corpus_dir()
MANIFEST = CORPUS / "MANIFEST.tsv"


def _rows() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = _rows()
# On a laptop without ../shared the corpus tests skip; on CI the corpus is always there, so its
# absence is a failure rather than a quiet skip.
if not ROWS and os.environ.get("CI"):
    raise RuntimeError(f"Expected the BPMN corpus at {CORPUS}, but it is not there")
pytestmark = pytest.mark.skipif(not ROWS, reason=f"no corpus at {CORPUS}")

# Refused files and a phrase of the reason. Checked one by one against each source project's
# own tests: bpmn-moddle only warns about several of its error/ fixtures, which are accepted here
# when nothing in them is ambiguous (bad-encoding: windows-1252 is decoded correctly;
# categoryValue: misplaced but harmless; extension-definition-missing: an unresolved
# `bpmn:extension` QName we never resolve; undeclared-ns-child: an un-namespaced element kept as an
# extension, as miwg A.2.1 also has).
REFUSED = {
    "bpmn-moddle/test/fixtures/bpmn/error/duplicate-ids.bpmn": "Expected unique ids",
    "bpmn-moddle/test/fixtures/bpmn/error/invalid-attributes.bpmn": "well-formed XML",
    "bpmn-moddle/test/fixtures/bpmn/error/not-bpmn.bpmn": "Expected the root element",
    "bpmn-moddle/test/fixtures/bpmn/error/xmlns-redeclaration.bpmn": "well-formed XML",
    "camunda-bpm-platform/engine/src/test/resources/org/camunda/bpm/engine/test/bpmn/parse/"
    "BpmnParseTest.testParseProcessDefinitionXXE.bpmn20.xml": "entity declarations",
    "camunda-bpm-platform/engine/src/test/resources/org/camunda/bpm/engine/test/bpmn/parse/"
    "BpmnParseTest.testXMLParsingErrors.bpmn": "well-formed XML",
    # Its lanes name 'Start1', 'End1', ... while the nodes are 'Approvals.Start1', ...:
    # SpiffWorkflow silently leaves such nodes without a lane; Laneway refuses to guess.
    "spiffworkflow/tests/SpiffWorkflow/bpmn/data/Approvals.bpmn": "flowNodeRef 'Start1'",
}

_CAMUNDA = "camunda-bpm-platform/engine/src/test/resources/org/camunda/bpm/engine/test/"
_SPIFF = "spiffworkflow/tests/SpiffWorkflow/bpmn/data/"
# What validate reports on accepted executable files; every other one must get nothing.
EXPECTED_FINDINGS = {
    # A parser fixture with two lone link events, never run by an engine.
    "bpmn-moddle/test/fixtures/bpmn/link-event-definition-target.bpmn": [
        "Expected a start event in the process, but it has none"
    ],
    # Camunda's test expects deployment to fail for exactly this reason.
    _CAMUNDA + "bpmn/event/link/LinkEventTest.testInvalidEventLinkMultipleTargets.bpmn20.xml": [
        "Expected one catching link event named 'LinkA' in its scope, but "
        "'IntermediateCatchEvent_1' has that name too"
    ],
    # SpiffWorkflow's tests expect these two to be rejected.
    _SPIFF + "invalid_cancel.bpmn": [
        "Expected a cancel boundary event to be attached to a transaction, but "
        "'Activity_HowMany' is a userTask"
    ],
    _SPIFF + "standard_loop_invalid.bpmn": [
        "Expected a loopCondition or loopMaximum on a standard loop, but it has neither "
        "(it would never end)"
    ],
}


def _path_id(row: dict[str, str]) -> str:
    return row["corpus_path"]


def _accepted() -> list[dict[str, str]]:
    return [r for r in ROWS if r["corpus_path"] not in REFUSED]


def _c14n(data: bytes) -> str:
    return str(etree.canonicalize(from_file=io.BytesIO(data)))


def _without_lines(value: object) -> object:
    """A comparable form of a model value with every `line` dropped.

    Export may re-wrap a start tag written over several lines, which moves later elements.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            {
                f.name: _without_lines(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if f.name not in ("line", "source")
            },
        )
    if isinstance(value, Mapping):
        return {k: _without_lines(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_without_lines(v) for v in value)
    return value


def _parse_row(row: dict[str, str]) -> Definitions:
    return parse((CORPUS / row["corpus_path"]).read_bytes(), row["corpus_path"])


@pytest.mark.parametrize("row", ROWS, ids=_path_id)
def test_corpus_file_is_parsed_or_refused_with_located_problems(row: dict[str, str]) -> None:
    path = row["corpus_path"]
    data = (CORPUS / path).read_bytes()

    started = time.perf_counter()
    try:
        defs = parse(data, path)
    except DiagramError as exc:
        refused: DiagramError | None = exc
    else:
        refused = None
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0, f"parsing {path} took {elapsed:.2f}s"
    if path in REFUSED:
        assert refused is not None, f"{path} should be refused"
        assert refused.problems
        for problem in refused.problems:
            assert problem.message
            assert problem.line >= 0
            assert problem.file == path
        assert any(REFUSED[path] in p.message for p in refused.problems), str(refused)
    else:
        assert refused is None, f"{path} refused:\n{refused}"
        assert defs.file == path
        assert defs.source == data


def test_broken_corpus_files_are_all_refused() -> None:
    # Whatever the manifest marks as not parseable or as an XXE case must be in REFUSED.
    must_refuse = {
        r["corpus_path"]
        for r in ROWS
        if r["parse_status"] != "ok" or "xxe" in r["corpus_path"].lower()
    }
    assert must_refuse <= set(REFUSED)
    assert set(REFUSED) <= {r["corpus_path"] for r in ROWS}


def test_whole_corpus_parses_in_a_few_seconds() -> None:
    started = time.perf_counter()
    for row in _accepted():
        _parse_row(row)
    assert time.perf_counter() - started < 5.0


@pytest.mark.parametrize("row", _accepted(), ids=_path_id)
def test_corpus_file_round_trips_through_export(row: dict[str, str]) -> None:
    defs = _parse_row(row)

    unchanged = export(defs)

    assert unchanged == defs.source
    assert _c14n(unchanged) == _c14n(defs.source)


@pytest.mark.parametrize("row", _accepted(), ids=_path_id)
def test_corpus_export_with_one_attribute_changes_only_that_attribute(
    row: dict[str, str],
) -> None:
    defs = _parse_row(row)
    process = next((p for p in defs.processes if p.nodes), None)
    if process is None:
        pytest.skip("no flow nodes to change")
    node_id = next(iter(process.nodes))

    changed = parse(export(defs, [SetAttribute(node_id, "laneway:persona", "clerk")]))
    restored = export(changed, [SetAttribute(node_id, "laneway:persona", None)])

    before = process.nodes[node_id]
    after = changed.process(process.id).nodes[node_id]
    assert after.attrs["laneway:persona"] == "clerk"
    assert {k: v for k, v in after.attrs.items() if k != "laneway:persona"} == dict(before.attrs)
    assert _without_lines(dataclasses.replace(after, attrs=before.attrs)) == _without_lines(before)
    others_before = {k: v for k, v in process.nodes.items() if k != node_id}
    others_after = {k: v for k, v in changed.process(process.id).nodes.items() if k != node_id}
    assert _without_lines(others_after) == _without_lines(others_before)
    assert _without_lines(changed.processes) != _without_lines(defs.processes)
    # Removing it again gives back the original document, namespace declaration aside.
    assert _c14n(restored).replace(' xmlns:laneway="http://laneway.dev/schema/1.0/bpmn"', "") == (
        _c14n(defs.source)
    )


@pytest.mark.parametrize("row", [r for r in _accepted() if r["executable"] == "True"], ids=_path_id)
def test_validate_reports_only_known_findings_on_executable_corpus_files(
    row: dict[str, str],
) -> None:
    defs = _parse_row(row)

    messages = [p.message for p in validate(defs)]

    assert sorted(messages) == sorted(EXPECTED_FINDINGS.get(row["corpus_path"], []))


@pytest.mark.parametrize("row", _accepted(), ids=_path_id)
def test_validate_problems_are_located(row: dict[str, str]) -> None:
    defs = _parse_row(row)

    for problem in validate(defs):
        assert problem.file == row["corpus_path"]
        assert problem.line > 0
        assert problem.message
