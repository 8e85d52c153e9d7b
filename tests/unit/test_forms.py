"""laneway.forms: schema checks at upload, field errors of submissions, where forms are named."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from laneway.bpmn import parse
from laneway.forms import FieldError, FormSchemaError, check_schema, form_of, start_form, validate
from laneway.settings import SettingsError
from services.definitions.ratelimit import RateLimit
from services.definitions.settings import load_settings
from tests.auth import auth_env

APPLICATION: dict[str, Any] = {
    "type": "object",
    "required": ["applicant", "amount"],
    "properties": {
        "applicant": {
            "type": "object",
            "required": ["name", "email"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "email": {"type": "string", "format": "email"},
            },
        },
        "amount": {"type": "integer", "minimum": 1},
        "items": {"type": "array", "items": {"type": "integer"}},
    },
}
VALID = {"applicant": {"name": "Ada", "email": "ada@example.org"}, "amount": 3,
         "items": [1, 2]}


def fields(errors: list[FieldError]) -> list[str]:
    return [e.field for e in errors]


# --- validate ----------------------------------------------------------------------------------


def test_a_valid_submission_has_no_errors() -> None:
    assert validate(APPLICATION, VALID) == []


def test_a_missing_required_property_is_named_itself_not_its_parent() -> None:
    errors = validate(APPLICATION, {"applicant": {"name": "Ada"}})

    assert errors == [
        FieldError("amount", "Expected 'amount', but it is missing"),
        FieldError("applicant.email", "Expected 'email', but it is missing"),
    ]


def test_every_missing_property_of_one_object_gets_its_own_error() -> None:
    errors = validate(APPLICATION, {"applicant": {}, "amount": 1})

    assert fields(errors) == ["applicant.name", "applicant.email"]


def test_a_nested_wrong_value_is_named_by_its_dotted_path() -> None:
    errors = validate(APPLICATION, {**VALID, "applicant": {"name": "", "email": "a@b.c"}})

    assert fields(errors) == ["applicant.name"]
    assert errors[0].message == "'' should be non-empty"


def test_an_array_item_is_named_by_a_json_pointer() -> None:
    errors = validate(APPLICATION, {**VALID, "items": [1, "two", 3]})

    assert errors == [FieldError("/items/1", "Expected integer, but got a string")]


def test_a_property_name_a_dot_path_cannot_carry_is_named_by_a_json_pointer() -> None:
    schema = {"properties": {"a.b": {"type": "object", "properties": {"c/d": {"type": "null"}}}}}

    errors = validate(schema, {"a.b": {"c/d": 1}})

    assert fields(errors) == ["/a.b/c~1d"]


def test_a_wrong_type_at_the_top_is_the_whole_submission() -> None:
    errors = validate({"type": "object", "properties": {"n": {"type": "integer"}},
                       "minProperties": 2}, {"n": 1})

    assert fields(errors) == [""]


def test_unexpected_properties_are_each_named() -> None:
    schema = {"type": "object", "properties": {"a": {}}, "patternProperties": {"^x-": {}},
              "additionalProperties": False}

    errors = validate(schema, {"a": 1, "x-ok": 2, "b": 3, "c": 4})

    assert fields(errors) == ["b", "c"]


def test_a_dependent_required_property_is_named_itself() -> None:
    schema = {"type": "object", "dependentRequired": {"card": ["expiry"]}}

    errors = validate(schema, {"card": "4111"})

    assert errors == [FieldError("expiry", "Expected 'expiry' because 'card' is given, but it "
                                           "is missing")]


@pytest.mark.parametrize(("form", "good", "bad"), [
    ("date", "2024-02-29", "2023-02-29"),
    ("date-time", "2024-02-29T12:30:00.25+01:00", "2024-02-29 12:30"),
    ("date-time", "2024-02-29T12:30:00Z", "2024-02-29T25:30:00Z"),
    ("uri", "https://example.org/a?b=%20c#d", "not a uri"),
    ("uri", "urn:isbn:0451450523", "/relative/only"),
])
def test_formats_are_asserted(form: str, good: str, bad: str) -> None:
    schema = {"properties": {"v": {"type": "string", "format": form}}}

    assert validate(schema, {"v": good}) == []
    assert validate(schema, {"v": bad}) == [
        FieldError("v", f"Expected a valid {form}, but got {bad!r}")]


ONE_ADDRESS = "Expected one e-mail address such as name@example.org (no name in front, no second " \
    "address), but got "


@pytest.mark.parametrize("good", [
    "ada@example.org", "first.last+tag@sub.example.co.uk", "o'brien@example.ie",
    "x_y-z@a-b.example", "a@" + "d" * 63 + ".org", "l" * 64 + "@example.org",
])
def test_an_email_field_takes_one_bare_address(good: str) -> None:
    schema = {"properties": {"v": {"type": "string", "format": "email"}}}
    assert validate(schema, {"v": good}) == []


@pytest.mark.parametrize("bad", [
    # a list, or a display name: each would become recipients of the diagram's mail
    'a@x.org, b@y.net, "Boss" <c@z.com>', "a@x.org,b@y.net", "a@x.org; b@y.net",
    "a@x.org b@y.net", "Boss <c@z.com>", "<c@z.com>", '"a b"@example.org',
    # header injection, and look-alikes of separators
    "a@x.org\r\nBcc: e@f.com", "a@x.org\n", "a@x.org\u2028", "a\uff0cb@x.org",
    # not an address
    "ada.example.org", "ada@", "@example.org", "ada@localhost", "ada@example.123",
    "a..b@example.org", ".a@example.org", "a.@example.org", "a@b@example.org",
    "ada@-example.org", "ada@example-.org", "ada@[127.0.0.1]", "ada@exa_mple.org",
    "l" * 65 + "@example.org", "a@" + "d" * 64 + ".org",
    "a@" + ".".join(["d" * 60] * 5) + ".org", "", " ada@example.org",
])
def test_an_email_field_refuses_lists_names_and_line_breaks(bad: str) -> None:
    schema = {"properties": {"v": {"type": "string", "format": "email"}}}
    assert validate(schema, {"v": bad}) == [FieldError("v", _short_email(bad))]


def _short_email(bad: str) -> str:
    message = ONE_ADDRESS + repr(bad)
    return message if len(message) <= 300 else message[:299] + "…"


def test_idn_email_admits_international_letters_but_not_lists() -> None:
    schema = {"properties": {"v": {"type": "string", "format": "idn-email"}}}
    assert validate(schema, {"v": "jörg@bücher.example"}) == []
    assert validate(schema, {"v": "用户@例子.广告"}) == []
    assert validate({"properties": {"v": {"type": "string", "format": "email"}}},
                    {"v": "jörg@bücher.example"}) != []
    for bad in ("jörg@bücher.example, b@y.net", "Jörg <j@x.example>", "a\u2028@x.example"):
        assert validate(schema, {"v": bad}) == [FieldError("v", ONE_ADDRESS + repr(bad))]


def test_the_schemas_draft_is_used() -> None:
    # draft 4's exclusiveMaximum is a boolean modifier, 2020-12's a number
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#",
              "properties": {"n": {"maximum": 5, "exclusiveMaximum": True}}}

    assert fields(validate(draft4, {"n": 5})) == ["n"]
    assert validate(draft4, {"n": 4}) == []


def test_local_references_resolve() -> None:
    schema = {"$defs": {"email": {"type": "string", "format": "email"}},
              "properties": {"to": {"$ref": "#/$defs/email"}}}

    assert fields(validate(schema, {"to": "nobody"})) == ["to"]


def test_a_remote_reference_fails_without_touching_the_network(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("Expected no network access, but urlopen was called")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    schema = {"properties": {"a": {"$ref": "https://example.org/schema.json"}}}

    with pytest.raises(FormSchemaError, match="resolve inside the schema"):
        validate(schema, {"a": 1})


def test_a_long_value_is_cut_in_the_message() -> None:
    errors = validate({"properties": {"v": {"maxLength": 3}}}, {"v": "x" * 5000})

    assert len(errors[0].message) <= 300


# --- check_schema ------------------------------------------------------------------------------


def test_a_good_schema_has_no_problems() -> None:
    assert check_schema(APPLICATION) == []


def test_a_schema_that_is_not_an_object_is_refused() -> None:
    assert check_schema([APPLICATION]) == ["Expected a JSON Schema object, but got an array"]


def test_an_invalid_keyword_value_is_refused_with_its_pointer() -> None:
    problems = check_schema({"properties": {"a": {"minimum": "one"}}})

    assert problems == ["/properties/a/minimum: 'one' is not of type 'number'"]


def test_an_invalid_regular_expression_is_refused() -> None:
    assert check_schema({"properties": {"a": {"pattern": "("}}}) == [
        "/properties/a/pattern: '(' is not a 'regex'"]


def test_an_unknown_draft_is_refused() -> None:
    problems = check_schema({"$schema": "https://example.org/my-draft"})

    assert len(problems) == 1
    assert "'https://example.org/my-draft'" in problems[0]


@pytest.mark.parametrize("ref", ["https://example.org/schema.json", "other.json#/a",
                                 "http://json-schema.org/draft-07/schema#"])
def test_a_remote_reference_is_refused(ref: str) -> None:
    problems = check_schema({"properties": {"a": {"$ref": ref}}})

    assert problems == [f"/properties/a/$ref: Expected a reference inside the schema "
                        f"(#/$defs/...), but got {ref!r}; forms never load schemas from "
                        "elsewhere: copy it into $defs"]


def test_a_dangling_local_reference_is_refused() -> None:
    problems = check_schema({"properties": {"a": {"$ref": "#/$defs/missing"}}})

    assert problems == ["/properties/a/$ref: Expected '#/$defs/missing' to point at a part of "
                        "the schema, but nothing is there"]


def test_a_reference_to_an_id_the_schema_declares_is_allowed() -> None:
    schema = {"$defs": {"money": {"$id": "urn:laneway:money", "type": "number"}},
              "properties": {"amount": {"$ref": "urn:laneway:money"}}}

    assert check_schema(schema) == []
    assert fields(validate(schema, {"amount": "ten"})) == ["amount"]


# --- form_of -----------------------------------------------------------------------------------

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:laneway="http://laneway.dev/schema/1.0/bpmn"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" {start}/>
    <bpmn:userTask id="native" laneway:form="native-form"/>
    <bpmn:userTask id="c7" camunda:formKey="c7-form"/>
    <bpmn:userTask id="c8a"><bpmn:extensionElements>
      <zeebe:formDefinition formKey="c8-key"/></bpmn:extensionElements></bpmn:userTask>
    <bpmn:userTask id="c8b"><bpmn:extensionElements>
      <zeebe:formDefinition formId="c8-id"/></bpmn:extensionElements></bpmn:userTask>
    <bpmn:userTask id="none"/>
    <bpmn:subProcess id="sub" triggeredByEvent="true">
      <bpmn:startEvent id="inner" laneway:form="inner-form"><bpmn:messageEventDefinition
        messageRef="m"/></bpmn:startEvent>
    </bpmn:subProcess>
  </bpmn:process>
  <bpmn:message id="m" name="m"/>
</bpmn:definitions>
"""


def process(start_attrs: str = "") -> Any:
    return parse(DIAGRAM.format(start=start_attrs).encode()).process("p")


@pytest.mark.parametrize(("node", "form"), [("native", "native-form"), ("c7", "c7-form"),
                                            ("c8a", "c8-key"), ("c8b", "c8-id"),
                                            ("none", None)])
def test_form_of_reads_every_dialect(node: str, form: str | None) -> None:
    assert form_of(process().nodes[node]) == form


def test_start_form_is_the_none_start_events_form() -> None:
    assert start_form(process('laneway:form="apply"')) == "apply"
    assert start_form(process('camunda:formKey="apply-c7"')) == "apply-c7"


def test_start_form_ignores_other_start_events() -> None:
    # the event subprocess's message start names a form, the process's start does not
    assert start_form(process()) is None


# --- the public form's rate limit setting ------------------------------------------------------


@pytest.mark.parametrize(("text", "count", "window_s"), [
    ("30/minute", 30, 60), ("5/second", 5, 1), ("100/hour", 100, 3600), ("1000/day", 1000, 86400),
    ("10/5minutes", 10, 300), (" 7 / Minutes ", 7, 60),
])
def test_rate_limits_parse(text: str, count: int, window_s: int) -> None:
    assert RateLimit.parse(text) == RateLimit(count, window_s)


@pytest.mark.parametrize("text", ["x", "30", "0/minute", "30/fortnight", "30/0minutes", "-1/day"])
def test_a_malformed_rate_limit_stops_the_service_with_the_setting_named(text: str) -> None:
    env = {"LANEWAY_FORM_RATE_LIMIT": text, **auth_env()}

    with pytest.raises(SettingsError, match=r"LANEWAY_FORM_RATE_LIMIT: Expected a rate like "):
        load_settings(env)


def test_the_rate_limit_defaults_to_30_a_minute() -> None:
    assert load_settings(auth_env()).form_rate_limit == RateLimit(30, 60)
    assert load_settings({"LANEWAY_FORM_RATE_LIMIT": " ", **auth_env()}).form_rate_limit \
        == RateLimit(30, 60)


# --- patterns run in linear time (RE2) ------------------------------------------------------

EMAIL = {"type": "object", "properties": {"email": {
    "type": "string", "pattern": r"^([a-zA-Z0-9_.+-])+@(([a-zA-Z0-9-])+\.)+([a-zA-Z0-9]{2,4})+$"}}}


@pytest.mark.timeout(20)
def test_a_pattern_that_backtracks_in_python_answers_a_hostile_submission_at_once() -> None:
    # 40 characters: Python's re needs about 2**40 steps here; RE2 one pass
    [error] = validate(EMAIL, {"email": "a" * 39 + "!"})
    assert error.field == "email"
    assert "does not match" in error.message
    assert validate(EMAIL, {"email": "ada@example.org"}) == []


def test_pattern_properties_match_names_with_re2() -> None:
    schema = {"type": "object", "patternProperties": {"^n_": {"type": "integer"}}}
    assert validate(schema, {"n_a": 1, "other": "x"}) == []
    [error] = validate(schema, {"n_a": "one"})
    assert error.field == "n_a"


@pytest.mark.parametrize(("schema", "where"), [
    ({"type": "string", "pattern": "a(?=b)"}, "/pattern"),
    ({"properties": {"a": {"pattern": r"(x)\1"}}}, "/properties/a/pattern"),
    ({"patternProperties": {"(?<=x)y": {}}}, "/patternProperties/(?<=x)y"),
])
def test_a_pattern_re2_cannot_run_is_refused_at_upload_naming_where(
        schema: dict[str, object], where: str) -> None:
    [problem] = check_schema(schema)
    assert problem.startswith(f"{where}: ")
    assert "no backreferences or lookaround" in problem
