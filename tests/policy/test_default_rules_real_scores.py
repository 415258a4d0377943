"""``moderation rules test rules/default.yaml`` with the real scorers: the text-only inline
tests (no fixed scores) are scored by the models the service runs, and all tests pass."""

from __future__ import annotations

import pytest

from moderation import cli
from moderation.policy import load_rules

from .helpers import DEFAULT_RULES

pytestmark = pytest.mark.slow


def test_every_inline_test_of_the_default_rules_passes_with_the_real_scorers(capsys):
    ruleset = load_rules(DEFAULT_RULES)
    text_only = [t for t in ruleset.tests if t.needs_real_scores]
    assert len(text_only) == 2  # the real scorers are needed, so they are built

    assert cli.main(["rules", "test", str(DEFAULT_RULES), "--verbose"]) == 0

    out = capsys.readouterr().out
    total = len(ruleset.tests)
    assert f"{DEFAULT_RULES}: {total} passed, 0 failed, 0 skipped" in out
    for test in text_only:
        assert f"({test.spec.name}) PASSED" in out
