"""docs/kubernetes.md's values reference is the chart's values.schema.json's rendering."""

from __future__ import annotations

import json

from scripts import chart_docs


def test_the_values_reference_is_current() -> None:
    assert chart_docs.PAGE.read_text() == chart_docs.current_page(), (
        "run python -m scripts.chart_docs")


def test_every_value_of_the_schema_has_a_row_with_what_it_is() -> None:
    schema = json.loads(chart_docs.SCHEMA.read_text())
    section = chart_docs.reference()

    for key in schema["properties"]["services"]["properties"]:
        assert f"| `services.{key}.replicas` |" in section
    assert "| `connectors.groups[].types` | array |" in section
    assert "| `kafka.security.protocol` | string: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, " \
           "`SASL_SSL` | `\"PLAINTEXT\"` |" in section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert all(not line.endswith("|  |") for line in rows), "a value without a description"
