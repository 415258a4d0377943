"""The condition table: a type registered from outside works everywhere conditions go."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, ClassVar

import pytest
from pydantic import Field

from moderation.exceptions import RulesError
from moderation.policy import load_rules_text
from moderation.policy.conditions import (
    CONDITION_TYPES,
    Comparison,
    Facts,
    LoadChecks,
    Loc,
    Test,
    register_condition,
    unregister_condition,
)
from moderation.policy.diff import describe_condition, diff_rulesets

from .helpers import make_ctx


@pytest.fixture
def score_sum() -> Iterator[type[Comparison]]:
    """A toy type, registered through the public API only: the sum of several scores."""

    class ScoreSumCondition(Comparison):
        key: ClassVar[str] = "score_sum"
        score_sum: Annotated[list[str], Field(min_length=2)]

        @classmethod
        def check_raw(cls, raw: dict[str, Any], loc: Loc, checks: LoadChecks) -> None:
            names = raw.get("score_sum")
            for i, name in enumerate(names if isinstance(names, list) else []):
                if isinstance(name, str):
                    checks.score(name, (*loc, "score_sum", i))

        def compile(self, lists: Mapping[str, tuple[str, ...]]) -> Test:
            names, compare = tuple(self.score_sum), self.compare

            def score_sum(facts: Facts) -> bool:
                scores = facts.ctx.scores
                return all(n in scores for n in names) and compare(sum(scores[n] for n in names))

            return score_sum

        def subject(self) -> str:
            return "score_sum " + "+".join(self.score_sum)

        def score_names(self) -> Iterable[str]:
            return self.score_sum

    register_condition(ScoreSumCondition)
    yield ScoreSumCondition
    unregister_condition("score_sum")


RULES = """\
default: {action: approve}
rules:
  - id: hostile
    when: {all: [{score_sum: [insult, threat], gte: 1.2}, {not: {reply: true}}]}
    action: reject
    message: "insult {score.insult:.1f}"
"""


def test_a_registered_type_loads_evaluates_and_says_what_it_needs(score_sum):
    ruleset = load_rules_text(RULES)
    hostile = make_ctx(scores={"insult": 0.7, "threat": 0.6})
    assert ruleset.evaluate(hostile).rule == "hostile"
    assert ruleset.evaluate(make_ctx(scores={"insult": 0.7, "threat": 0.4})).rule is None
    assert ruleset.evaluate(make_ctx(scores={"insult": 0.9})).rule is None  # a score missing
    assert ruleset.score_names == {"insult", "threat"}


def test_a_registered_type_is_described_and_diffed(score_sum):
    old = load_rules_text(RULES)
    new = load_rules_text(RULES.replace("gte: 1.2", "gte: 1.5"))
    assert describe_condition(old.rule("hostile").spec.when) == (
        "all(score_sum insult+threat >= 1.2, not(reply true))"
    )
    assert diff_rulesets(old, new) == [
        "changed rule 'hostile': thresholds score_sum insult+threat gte 1.2 -> 1.5"
    ]


def test_a_registered_type_gets_the_loaders_checks_and_messages(score_sum):
    text = RULES.replace("gte: 1.2", "gtee: 1.2") + (
        "  - {id: other, when: {score_sum: [insult, thret], lt: 0.1}, action: approve}\n"
    )
    with pytest.raises(RulesError) as err:
        load_rules_text(text, available_scores={"insult", "threat"})
    assert err.value.errors == [
        "<string>:4:48: unknown key 'gtee' in rules[0].when.all[0]; "
        "expected one of: score_sum, gte, gt, lt, lte, between",
        "<string>:7:44: unknown score 'thret' in rules[1].when.score_sum[1]; "
        "active scorers produce: insult, threat",
    ]


def test_unregistering_removes_the_type_again(score_sum):
    unregister_condition("score_sum")
    try:
        with pytest.raises(RulesError, match="unknown condition 'score_sum'"):
            load_rules_text(RULES)
        assert "score_sum" not in CONDITION_TYPES
    finally:
        register_condition(score_sum)


def test_a_key_can_be_registered_once(score_sum):
    with pytest.raises(ValueError, match="registered already"):
        register_condition(score_sum)
