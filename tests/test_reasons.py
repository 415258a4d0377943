"""The reason codes: a short list a moderator picks from with 1-9, each with a commenter's
text and a DSA Transparency Database category; the default rules name them."""

from __future__ import annotations

import pytest

from moderation import reasons
from moderation.policy import load_rules
from tests.conftest import ROOT


def test_at_most_nine_codes_one_key_each():
    assert 1 <= len(reasons.REASONS) <= 9
    codes = [r.code for r in reasons.REASONS]
    assert len(set(codes)) == len(codes)
    assert [r.key for r in reasons.REASONS] == list(range(1, len(reasons.REASONS) + 1))
    assert reasons.FALLBACK in codes


@pytest.mark.parametrize("reason", reasons.REASONS, ids=lambda r: r.code)
def test_every_reason_has_a_text_and_a_published_category(reason):
    assert reason.text.startswith("Your comment was removed because ")
    assert reason.label and len(reason.label) <= 40
    assert reason.category in reasons.DSA_CATEGORIES
    assert reason.ground in (reasons.GROUND_INCOMPATIBLE, reasons.GROUND_ILLEGAL)


def test_an_unknown_code_is_refused_with_the_list():
    assert reasons.check_code("spam") == "spam"
    with pytest.raises(ValueError) as exc:
        reasons.check_code("rude")
    assert str(exc.value) == (
        "unknown reason code 'rude'; expected one of: abuse, hate, threat, spam, off-topic, "
        "personal-data, illegal, impersonation, other"
    )


def test_every_rejecting_rule_of_the_default_file_names_a_reason():
    ruleset = load_rules(ROOT / "rules" / "default.yaml")
    rejecting = {r.id: r.spec.reason for r in ruleset.rules if r.spec.action == "reject"}
    assert rejecting == {
        "severe-abuse-words": "abuse",
        "banned-author": "other",
        "very-toxic": "abuse",
        "spam": "spam",
        "off-topic-links": "spam",
        "clearly-off-topic": "off-topic",
    }
    suggested = {r.id: r.spec.reason for r in ruleset.rules if r.spec.action == "escalate"}
    assert suggested["threat"] == "threat" and suggested["identity-attack"] == "hate"


def test_a_rules_decision_stores_its_rules_code_or_the_fallback():
    from moderation.policy import load_rules_text

    from .policy.helpers import make_ctx

    ruleset = load_rules_text(
        """
default: {action: approve}
rules:
  - {id: spam, when: {score: spam, gte: 0.9}, action: reject, reason: spam}
  - {id: toxic, when: {score: toxicity, gte: 0.9}, action: reject}
  - {id: maybe, when: {score: toxicity, gte: 0.5}, action: escalate, reason: abuse}
"""
    )

    def code(**scores: float) -> str | None:
        return reasons.rules_reason(ruleset, ruleset.evaluate(make_ctx(scores=scores)))

    assert code(spam=0.95) == "spam"
    assert code(toxicity=0.95) == "other"
    assert code(toxicity=0.6) == "abuse"
    assert code(toxicity=0.1) is None


def test_the_commenter_text_is_the_moderators_or_the_codes():
    entry = [{"rule": reasons.REASON_TEXT_RULE, "message": "Please keep it civil."}]
    assert reasons.decision_reason_text("reject", "abuse", entry) == "Please keep it civil."
    assert reasons.decision_reason_text("reject", "spam", []) == reasons.get("spam").text
    assert reasons.decision_reason_text("reject", None, None) == reasons.get("other").text
    assert reasons.decision_reason_text("approve", "spam", []) is None
