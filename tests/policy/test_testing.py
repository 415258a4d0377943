from __future__ import annotations

from moderation.policy import load_rules, load_rules_text
from moderation.policy.testing import covered_rules, run_inline_tests

from .helpers import DEFAULT_RULES, DEFAULT_SCORES

RULES = """\
default: {action: approve}
rules:
  - id: new-author
    when: {first_comment: true}
    labels: [new]
  - id: toxic
    when: {score: toxicity, gte: 0.9}
    action: reject
    labels: [abuse]
    message: "toxicity {score.toxicity:.2f}"
  - id: offtopic-reply
    when: {all: [{reply: true}, {score: relevance, lt: 0.3}]}
    action: escalate
    priority: 4
  - id: old-article
    when: {article_age: days, gte: 30}
    action: escalate
tests:
  - name: passes
    text: fine
    scores: {toxicity: 0.1, relevance: 0.9}
    author: {history: {total: 3}}
    expect: {action: approve, rule: null}
  - name: wrong expectation
    text: you are awful
    scores: {toxicity: 0.95, relevance: 0.9}
    author: {history: {total: 3}}
    expect: {action: escalate, rule: offtopic-reply, labels: [abuse, rude], priority: 4}
  - text: needs the models
    article: {title: Budget, body: The council passed the budget.}
    parent: What do you think?
    expect: {action: escalate, rule: offtopic-reply}
  - name: article age and history
    text: late comment
    article: {age_hours: 800}
    scores: {toxicity: 0.0, relevance: 0.9}
    expect: {action: escalate, rule: old-article, labels: [new]}
"""


def test_outcomes_pass_fail_and_skip_without_real_scores():
    ruleset = load_rules_text(RULES, source="site.yaml")
    outcomes = run_inline_tests(ruleset)
    assert [o.status for o in outcomes] == ["passed", "failed", "skipped", "passed"]
    assert outcomes[0].render() == "site.yaml:19: tests[0] (passes) PASSED"
    assert outcomes[1].render() == (
        "site.yaml:24: tests[1] (wrong expectation) FAILED\n"
        "  text:     'you are awful'\n"
        "  - expected: escalate by rule offtopic-reply\n"
        "  + got:      reject by rule toxic\n"
        "  - expected labels: abuse, rude\n"
        "  + got labels:      abuse\n"
        "  - expected priority: 4\n"
        "  + got priority:      0\n"
        "  reasons:\n"
        "    toxic: toxicity 0.95\n"
        "  scores:   relevance=0.90 toxicity=0.95"
    )
    assert outcomes[2].skipped and outcomes[2].verdict is None
    assert outcomes[2].render() == (
        "site.yaml:29: tests[2] SKIPPED\n"
        "  skipped: no fixed scores, so it needs the real scorers "
        "(run `moderation rules test`, which loads them)"
    )
    assert covered_rules(outcomes) == {"toxic", "old-article", "new-author"}


def test_score_fn_computes_scores_for_tests_without_fixed_ones():
    calls = []

    def score_fn(text, title, body, parent):
        calls.append((text, title, body, parent))
        return {"toxicity": 0.1, "relevance": 0.1}

    outcomes = run_inline_tests(load_rules_text(RULES), score_fn)
    assert calls == [
        ("needs the models", "Budget", "The council passed the budget.", "What do you think?")
    ]
    assert outcomes[2].passed
    assert outcomes[2].scores == {"toxicity": 0.1, "relevance": 0.1}
    assert outcomes[2].verdict is not None and outcomes[2].verdict.priority == 4


def test_a_failure_against_the_default_says_so():
    ruleset = load_rules_text(
        "default: {action: approve}\n"
        "rules: [{id: r, when: {score: spam, gte: 0.5}, action: reject}]\n"
        "tests: [{text: hi, scores: {spam: 0.1}, expect: {action: reject}}]\n"
    )
    (outcome,) = run_inline_tests(ruleset)
    assert outcome.failed
    assert outcome.detail.splitlines()[1:5] == [
        "  - expected: reject",
        "  + got:      approve by the default",
        "  reasons:",
        "    default: no rule matched",
    ]


def test_default_rules_inline_tests_cover_every_rule_and_pass():
    ruleset = load_rules(DEFAULT_RULES, available_scores=DEFAULT_SCORES)

    # Without models, only the text-only tests are skipped, and everything else passes.
    outcomes = run_inline_tests(ruleset)
    assert [o.render() for o in outcomes if o.failed] == []
    skipped = [o for o in outcomes if o.skipped]
    assert all(o.test.needs_real_scores for o in skipped) and len(skipped) >= 2

    # With neutral stand-in scores the text-only tests run too: the word list decides them.
    outcomes = run_inline_tests(
        ruleset, lambda *_: {"toxicity": 0.0, "relevance": 1.0, "spam": 0.0}
    )
    assert [o.render() for o in outcomes if not o.passed] == []
    uncovered = [r.id for r in ruleset.rules if r.id not in covered_rules(outcomes)]
    assert uncovered == []
    fixed_only = covered_rules(o for o in outcomes if not o.test.needs_real_scores)
    assert fixed_only == {r.id for r in ruleset.rules}
