"""The condition table: a type registered from outside works everywhere conditions go."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Annotated, Any, ClassVar

import pytest
from pydantic import Field

from moderation.exceptions import RulesError
from moderation.policy import EvaluationContext, ReportCounts, load_rules_text
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
from moderation.policy.testing import run_inline_tests

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


# --- reports: readers' reports of the comment, counted by the caller -------------------


def reported(when: str, message: str = "") -> str:
    extra = f", message: {message!r}" if message else ""
    rule = f"{{id: reported, when: {when}, action: escalate{extra}}}"
    return f"default: {{action: approve}}\nrules:\n  - {rule}\n"


def with_reports(**by_reason: int) -> EvaluationContext:
    return replace(make_ctx("a comment"), reports=ReportCounts(by_reason))


def test_reports_counts_every_reason_or_one():
    every = load_rules_text(reported("{reports: {gte: 3}}"))
    abusive = load_rules_text(reported("{reports: {reason: abusive, gte: 2}}"))
    assert every.evaluate(with_reports(abusive=1, spam=1, other=1)).rule == "reported"
    assert every.evaluate(with_reports(abusive=2)).rule is None
    assert abusive.evaluate(with_reports(abusive=2)).rule == "reported"
    assert abusive.evaluate(with_reports(abusive=1, spam=5)).rule is None


def test_no_reports_is_the_default_and_counts_as_zero():
    ruleset = load_rules_text(reported("{reports: {lt: 1}}"))
    assert ruleset.evaluate(make_ctx("a comment")).rule == "reported"
    assert ruleset.needs_reports
    assert not load_rules_text(reported("{count: links, gte: 1}")).needs_reports


def test_report_counts_can_be_quoted_in_messages():
    ruleset = load_rules_text(
        reported("{reports: {gte: 1}}", "{reports.total} reader reports ({reports})")
    )
    verdict = ruleset.evaluate(with_reports(spam=1, abusive=2, off_topic=1))
    assert verdict.reasons[0].message == "4 reader reports (2 abusive, 1 off_topic, 1 spam)"
    # A message alone is enough for the caller to count them.
    quoted = "default: {action: approve, message: '{reports.abusive} abusive'}\n"
    assert load_rules_text(quoted).needs_reports


def test_reports_is_described_and_diffed():
    old = load_rules_text(reported("{reports: {gte: 3}}"))
    new = load_rules_text(reported("{reports: {gte: 5}}"))
    one = load_rules_text(reported("{reports: {reason: spam, between: [2, 4]}}"))
    assert describe_condition(old.rule("reported").spec.when) == "reports >= 3"
    assert describe_condition(one.rule("reported").spec.when) == "reports spam in [2, 4]"
    assert diff_rulesets(old, new) == ["changed rule 'reported': thresholds reports gte 3 -> 5"]


def test_reports_errors_name_the_key_and_the_value():
    with pytest.raises(RulesError) as err:
        load_rules_text(reported("{reports: {reason: rude, gt: many}}"))
    assert err.value.errors == [
        "<string>:3:37: rules[0].when.reports.reason: 'rude' is not one of abusive, "
        "off_topic, spam, other",
        "<string>:3:51: rules[0].when.reports.gt: expected a number, got 'many'",
    ]


def test_inline_tests_give_reports_by_reason():
    text = reported("{reports: {gte: 3}}") + (
        "tests:\n"
        "  - {text: x, scores: {}, reports: {abusive: 2, spam: 1}, expect: {action: escalate}}\n"
        "  - {text: x, scores: {}, reports: {abusive: 2}, expect: {action: approve}}\n"
    )
    outcomes = run_inline_tests(load_rules_text(text))
    assert [o.status for o in outcomes] == ["passed", "passed"]


def test_report_counts_refuse_unknown_reasons_and_negative_counts():
    with pytest.raises(ValueError, match="'rude' is not a valid ReportReason"):
        ReportCounts({"rude": 1})
    with pytest.raises(ValueError, match="negative"):
        ReportCounts({"spam": -1})
    assert ReportCounts({"spam": 2, "other": 1}).count("total") == 3
    assert ReportCounts().summary() == "none"


def test_rules_on_the_reports_are_found_where_evaluation_stops_before_them():
    text = (
        "default: {action: approve}\n"
        "rules:\n"
        "  - {id: toxic, when: {score: toxicity, gte: 0.9}, action: reject, priority: 100}\n"
        "  - {id: noted, when: {reports: {gte: 1}}, labels: [reported]}\n"
        "  - id: reported\n"
        "    when: {reports: {reason: abusive, gte: 2}}\n"
        "    action: escalate\n"
        "    priority: 50\n"
        "    message: '{reports.abusive} abusive'\n"
    )
    ruleset = load_rules_text(text)
    assert [r.id for r in ruleset.report_rules] == ["reported"]  # decisive ones only
    ctx = replace(make_ctx("x", scores={"toxicity": 0.95}), reports=ReportCounts({"abusive": 2}))
    assert ruleset.evaluate(ctx).rule == "toxic"
    [(rule, reason)] = ruleset.matching_report_rules(ctx)
    assert rule.id == "reported" and reason.message == "2 abusive"
    assert ruleset.matching_report_rules(make_ctx("x")) == []


# --- author_status ------------------------------------------------------------------------


def by_status(when: str) -> str:
    rule = f"{{id: held, when: {when}, action: escalate}}"
    return f"default: {{action: approve}}\nrules:\n  - {rule}\n"


def with_status(status: str) -> EvaluationContext:
    return replace(make_ctx("a comment"), author_status=status)


def test_author_status_matches_one_status_or_any_of_a_list():
    one = load_rules_text(by_status("{author_status: premoderated}"))
    some = load_rules_text(by_status("{author_status: [suspended, banned]}"))
    assert one.evaluate(with_status("premoderated")).rule == "held"
    assert one.evaluate(with_status("trusted")).rule is None
    assert [some.evaluate(with_status(s)).rule for s in ("suspended", "banned", "normal")] == [
        "held",
        "held",
        None,
    ]


def test_an_author_nobody_set_is_normal():
    ruleset = load_rules_text(by_status("{author_status: normal}"))
    assert make_ctx("a comment").author_status == "normal"
    assert ruleset.evaluate(make_ctx("a comment")).rule == "held"
    with pytest.raises(ValueError, match="'muted' is not a valid AuthorStatus"):
        with_status("muted")


def test_author_status_is_described_and_diffed():
    one = load_rules_text(by_status("{author_status: premoderated}"))
    some = load_rules_text(by_status("{author_status: [suspended, banned, suspended]}"))
    assert describe_condition(one.rule("held").spec.when) == "author_status premoderated"
    assert describe_condition(some.rule("held").spec.when) == "author_status [suspended, banned]"
    assert diff_rulesets(one, some) == [
        "changed rule 'held': conditions author_status premoderated -> "
        "author_status [suspended, banned]"
    ]


def test_an_unknown_author_status_names_the_statuses_there_are():
    with pytest.raises(RulesError) as err:
        load_rules_text(by_status("{author_status: [trusted, muted]}"))
    assert err.value.errors == [
        "<string>:3:23: rules[0].when.author_status: 'muted' is not an author status; "
        "expected one of trusted, normal, premoderated, suspended, banned",
    ]
