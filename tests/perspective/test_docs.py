from __future__ import annotations

import json
import re

from moderation.perspective.attributes import load_table, markdown_table
from tests.conftest import ROOT


def test_the_documented_attribute_table_is_the_data_file():
    doc = (ROOT / "docs" / "perspective.md").read_text(encoding="utf-8")
    assert markdown_table(load_table()) in doc, (
        "docs/perspective.md's attribute table differs from moderation/perspective/"
        "attributes.yaml: paste markdown_table(load_table()) into it"
    )


def _shape(text: str) -> str:
    return re.sub(r"\b[A-Z][A-Z_]+\b", "NAME", text)  # attribute names vary


def test_every_error_message_of_the_fixtures_is_documented():
    doc = _shape((ROOT / "docs" / "perspective.md").read_text(encoding="utf-8"))
    for name in ("analyze_errors.json", "suggest_errors.json"):
        cases = json.loads((ROOT / "tests" / "perspective" / "fixtures" / name).read_text())
        for case in cases:
            message = case["response"]["error"]["message"]
            head = message.split(":")[0] if "Invalid JSON" not in message else "Invalid JSON"
            assert _shape(head) in doc, f"{case['name']}: {message!r} is not in docs/perspective.md"


def test_the_readme_shows_the_same_attribute_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table(load_table()) in readme, (
        "README.md's 'Migrating from Perspective API' attribute table differs from "
        "moderation/perspective/attributes.yaml: paste markdown_table(load_table()) into it"
    )
