"""docs/SECURITY.md names the test behind each point: each named test must exist."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

DOC = ROOT / "docs" / "SECURITY.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`( \*\(pending\)\*)?")


def test_every_test_the_security_page_names_exists():
    named = REFERENCE.findall(DOC.read_text())
    assert len(named) >= 40, named
    missing = []
    for path, name, pending in named:
        if pending:
            continue
        source = ROOT / path
        functions = (
            {n.name for n in ast.walk(ast.parse(source.read_text()))
             if isinstance(n, ast.FunctionDef)}
            if source.exists()
            else set()
        )  # fmt: skip
        if name not in functions:
            missing.append(f"{path}::{name}")
    assert missing == []
