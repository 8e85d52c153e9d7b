"""Hostile and broken input is refused with a located, readable problem; nothing is expanded."""

from __future__ import annotations

from pathlib import Path

import pytest

from laneway.bpmn import MAX_BYTES, MAX_ELEMENTS, Limits, parse, parse_file
from laneway.problems import DiagramError, UnreadableInput

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
DEFS_OPEN = (
    b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
    b'targetNamespace="t">\n'
)


def _refusal(data: bytes) -> DiagramError:
    with pytest.raises(DiagramError) as info:
        parse(data, "hostile.bpmn")
    return info.value


@pytest.mark.parametrize("system_id", [b"file:///etc/passwd", b"http://attacker.invalid/x"])
def test_external_entity_is_refused_and_never_resolved(system_id: bytes) -> None:
    data = (
        HEAD
        + b'<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "'
        + system_id
        + b'">]>\n'
        + DEFS_OPEN
        + b'<bpmn:process id="p" name="&xxe;"/></bpmn:definitions>'
    )

    error = _refusal(data)

    [problem] = error.problems
    assert problem.file == "hostile.bpmn"
    assert problem.line == 2
    assert "entity declarations" in problem.message
    assert "root:" not in str(error)


def test_billion_laughs_is_refused_without_expansion() -> None:
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    data = (
        HEAD
        + b"<!DOCTYPE bpmn:definitions ["
        + entities
        + b"]>\n"
        + DEFS_OPEN
        + b'<bpmn:process id="p" name="&lol9;"/></bpmn:definitions>'
    )

    error = _refusal(data)

    assert "entity declarations" in error.problems[0].message
    assert len(str(error)) < 500


def test_entities_in_utf16_are_refused_after_parsing() -> None:
    # The byte scan cannot see UTF-16; the check on the parsed DOCTYPE still refuses it.
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<!DOCTYPE x [<!ENTITY e "boom">]>\n'
        + DEFS_OPEN.decode()
        + '<bpmn:process id="p" name="&e;"/></bpmn:definitions>'
    )

    error = _refusal(text.encode("utf-16"))

    assert "entity" in error.problems[0].message


def test_malformed_xml_is_refused_with_its_line() -> None:
    data = HEAD + DEFS_OPEN + b'  <bpmn:process id="p">\n  </bpmn:proces>\n</bpmn:definitions>'

    [problem] = _refusal(data).problems

    assert problem.line == 4
    assert problem.message.startswith("Expected well-formed XML, but:")


def test_root_that_is_not_bpmn_definitions_is_refused() -> None:
    [problem] = _refusal(HEAD + b'<definitions xmlns="urn:other" id="x"/>').problems

    assert problem.message == (
        "Expected the root element {http://www.omg.org/spec/BPMN/20100524/MODEL}definitions, "
        "but it is {urn:other}definitions"
    )


def test_input_over_the_size_limit_is_refused_before_parsing() -> None:
    data = HEAD + DEFS_OPEN + b" " * MAX_BYTES + b"</bpmn:definitions>"

    [problem] = _refusal(data).problems

    assert "MiB" in problem.message


def test_input_nested_too_deep_is_refused() -> None:
    depth = 400
    data = (
        HEAD
        + DEFS_OPEN
        + b"<bpmn:extensionElements>"
        + b"<x:a xmlns:x='urn:x'>" * depth
        + b"</x:a>" * depth
        + b"</bpmn:extensionElements></bpmn:definitions>"
    )

    [problem] = _refusal(data).problems

    assert "nested at most" in problem.message


def test_all_reference_problems_are_reported_together() -> None:
    data = (
        HEAD
        + DEFS_OPEN
        + b"""<bpmn:process id="p">
  <bpmn:startEvent id="s"/>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="nowhere"/>
  <bpmn:boundaryEvent id="b" attachedToRef="ghost"/>
  <bpmn:task id="s"/>
</bpmn:process></bpmn:definitions>"""
    )

    problems = _refusal(data).problems

    assert [str(p) for p in problems] == [
        "hostile.bpmn:5: element 'f1': Expected targetRef 'nowhere' to name an element of this "
        "file, but none has that id",
        "hostile.bpmn:6: element 'b': Expected attachedToRef 'ghost' to name an element of this "
        "file, but none has that id",
        "hostile.bpmn:7: element 's': Expected unique ids, but 's' is already used at line 4",
    ]


def test_parse_file_reports_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInput):
        parse_file(tmp_path / "missing.bpmn")
    with pytest.raises(UnreadableInput):
        parse_file(tmp_path)


def test_parse_file_names_the_file_in_problems(tmp_path: Path) -> None:
    path = tmp_path / "broken.bpmn"
    path.write_bytes(HEAD + b"<bpmn:definitions")

    with pytest.raises(DiagramError) as info:
        parse_file(path)

    assert info.value.problems[0].file == str(path)


def test_doctype_text_inside_a_script_is_not_mistaken_for_one() -> None:
    data = (
        HEAD
        + DEFS_OPEN
        + b'<bpmn:process id="p"><bpmn:scriptTask id="s"><bpmn:script><![CDATA['
        + b'html = "<!DOCTYPE html><!ENTITY x>"]]></bpmn:script></bpmn:scriptTask>'
        + b"</bpmn:process></bpmn:definitions>"
    )

    script = parse(data).process().nodes["s"].script

    assert script == 'html = "<!DOCTYPE html><!ENTITY x>"'


# -- DTDs of any kind ----------------------------------------------------------------------

_PROCESS = b'<bpmn:process id="p" isExecutable="true"/></bpmn:definitions>'


@pytest.mark.parametrize(
    "doctype",
    [
        # attribute defaults only: libxml2 would add isExecutable="false" to every process
        b'<!DOCTYPE bpmn:definitions [<!ATTLIST bpmn:process isExecutable CDATA "false">]>',
        b"<!DOCTYPE bpmn:definitions [<!ELEMENT bpmn:definitions ANY>]>",
        b'<!DOCTYPE bpmn:definitions SYSTEM "http://attacker.invalid/bpmn.dtd">',
        b'<!DOCTYPE bpmn:definitions PUBLIC "-//X//DTD X//EN" "file:///etc/passwd">',
        b'<!DOCTYPE bpmn:definitions [<!ENTITY e "boom">]>',
        b"<!DOCTYPE bpmn:definitions>",
    ],
    ids=["attlist only", "internal subset", "external system", "external public", "entity",
         "bare"],
)
def test_a_doctype_of_any_kind_is_refused_with_its_line(doctype: bytes) -> None:
    data = HEAD + b"\n" + doctype + b"\n" + DEFS_OPEN + _PROCESS

    [problem] = _refusal(data).problems

    assert problem.line == 3
    assert problem.message.startswith("Expected no DOCTYPE, but the document has one")


def test_a_doctype_in_utf16_is_refused_after_parsing_and_adds_no_attribute() -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<!DOCTYPE bpmn:definitions [<!ATTLIST bpmn:process isExecutable CDATA "false">]>\n'
        + (DEFS_OPEN + _PROCESS).decode()
    )

    [problem] = _refusal(text.encode("utf-16")).problems

    assert problem.message.startswith("Expected no DOCTYPE")


# -- limits --------------------------------------------------------------------------------


def _tasks(n: int) -> bytes:
    tasks = b"".join(b'<bpmn:task id="t%d"/>' % i for i in range(n))
    return (HEAD + DEFS_OPEN + b'<bpmn:process id="p">' + tasks
            + b"</bpmn:process></bpmn:definitions>")


def test_more_elements_than_the_limit_are_refused_naming_it() -> None:
    with pytest.raises(DiagramError) as info:
        parse(_tasks(60), "big.bpmn", Limits(max_elements=50))

    [problem] = info.value.problems
    assert problem.message.startswith("Expected at most 50 XML elements")
    assert problem.line == 3
    assert len(parse(_tasks(47), "fits.bpmn", Limits(max_elements=50)).process().nodes) == 47


def test_comments_count_against_the_element_limit() -> None:
    data = HEAD + DEFS_OPEN + b"<!---->" * 100 + b"</bpmn:definitions>"

    with pytest.raises(DiagramError) as info:
        parse(data, "comments.bpmn", Limits(max_elements=50))

    assert "comments and processing instructions included" in info.value.problems[0].message


def test_the_default_element_limit_refuses_before_reading() -> None:
    with pytest.raises(DiagramError) as info:
        parse(_tasks(MAX_ELEMENTS), "big.bpmn")

    assert f"at most {MAX_ELEMENTS} XML elements" in info.value.problems[0].message


def test_nesting_deeper_than_the_limit_is_refused_naming_it() -> None:
    depth = 12
    data = (HEAD + DEFS_OPEN + b'<bpmn:process id="p">'
            + b"".join(b'<bpmn:subProcess id="s%d">' % i for i in range(depth))
            + b"</bpmn:subProcess>" * depth + b"</bpmn:process></bpmn:definitions>")

    with pytest.raises(DiagramError) as info:
        parse(data, "deep.bpmn", Limits(max_depth=10))

    [problem] = info.value.problems
    assert problem.message == "Expected elements nested at most 10 deep, but this one is deeper"
    assert parse(data, "deep.bpmn", Limits(max_depth=14)).process().nodes["s11"].parent == "s10"


def test_more_processes_than_the_limit_are_refused_naming_it() -> None:
    processes = b"".join(b'<bpmn:process id="p%d"/>\n' % i for i in range(5))

    with pytest.raises(DiagramError) as info:
        parse(HEAD + DEFS_OPEN + processes + b"</bpmn:definitions>", "many.bpmn",
              Limits(max_processes=3))

    [problem] = info.value.problems
    assert problem.message == "Expected at most 3 processes in one file, but it has 5"
    assert problem.line == 6


def test_a_smaller_byte_limit_is_refused_naming_it() -> None:
    with pytest.raises(DiagramError) as info:
        parse(_tasks(100), "big.bpmn", Limits(max_bytes=1000))

    assert info.value.problems[0].message.startswith("Expected a diagram of at most 1000 bytes")


def test_more_attributes_on_one_element_than_the_limit_are_refused_naming_it() -> None:
    # lxml reads each attribute's value by a search among the element's attributes: an
    # element with 100,000 of them took 50 s to read, so there is a limit
    attrs = b" ".join(b'a%d="v"' % i for i in range(100))  # and the id: 101
    data = HEAD + DEFS_OPEN + b'<bpmn:process id="p" ' + attrs + b"/></bpmn:definitions>"

    [problem] = _refusal(data).problems

    assert problem.message == "Expected at most 100 attributes on one element, but this one has 101"
    assert problem.line == 3
    assert parse(data, "wide.bpmn", Limits(max_attributes=101)).process().id == "p"


@pytest.mark.parametrize("limits", [{"max_depth": 257}, {"max_elements": 0},
                                    {"max_attributes": 1001},
                                    {"max_bytes": 65 * 1024 * 1024 + 1}])
def test_limits_beyond_what_the_parser_allows_are_refused(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="Expected max_"):
        Limits(**limits)
