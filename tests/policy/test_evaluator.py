from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from moderation.policy import Action, HistoryQuery, Reason, Verdict, load_rules_text
from moderation.policy.evaluator import compile_condition

from .helpers import NOW, make_ctx


def rules(body: str, default: str = "approve"):
    return load_rules_text(f"default: {{action: {default}}}\nrules:\n{body}")


def matches(condition: str, **ctx_args) -> bool:
    ruleset = rules(f"  - id: r\n    when: {condition}\n    action: reject\n")
    return ruleset.evaluate(make_ctx(**ctx_args)).rule == "r"


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ("{score: toxicity, gte: 0.9}", 0.9, True),
        ("{score: toxicity, gte: 0.9}", 0.89, False),
        ("{score: toxicity, gt: 0.9}", 0.9, False),
        ("{score: toxicity, lt: 0.2}", 0.1, True),
        ("{score: toxicity, lte: 0.2}", 0.2, True),
        ("{score: toxicity, between: [0.5, 0.9]}", 0.5, True),
        ("{score: toxicity, between: [0.5, 0.9]}", 0.9, True),
        ("{score: toxicity, between: [0.5, 0.9]}", 0.95, False),
        ("{score: toxicity, gte: 0.5, lt: 0.9}", 0.9, False),
    ],
)
def test_score_comparisons(condition, value, expected):
    assert matches(condition, scores={"toxicity": value}) is expected


def test_a_missing_score_never_matches_but_its_negation_does():
    assert not matches("{score: threat, gte: 0.1}", scores={"toxicity": 1.0})
    assert matches("{not: {score: threat, gte: 0.1}}", scores={"toxicity": 1.0})


def test_text_conditions():
    assert matches("{words: [idiot, moron]}", text="what a m0r0n")
    assert not matches("{words: [idiot]}", text="idiotic")
    assert matches('{phrases: ["buy now"]}', text="BUY  now!")
    assert matches('{regex: "(?i)\\\\bviagra\\\\b"}', text="Cheap VIAGRA here")
    assert not matches('{regex: "viagra"}', text="VIAGRA")  # regexes see the text as written


@pytest.mark.parametrize(
    ("condition", "text", "expected"),
    [
        ("{count: chars, gte: 10}", "0123456789", True),
        ("{count: chars, gte: 10}", "012345678", False),
        ("{count: words, lt: 3}", "two words", True),
        ("{count: links, gte: 2}", "a.com and http://b.org/x", True),
        ("{count: links, gte: 2}", "only a.com", False),
        ("{count: domains, gte: 2}", "a.com/1 a.com/2 www.a.com", False),
        ("{count: domains, gte: 2}", "a.com/1 b.net", True),
    ],
)
def test_length_and_link_counts(condition, text, expected):
    assert matches(condition, text=text) is expected


def test_author_conditions():
    rejected_30 = HistoryQuery("rejected", 30)
    total = HistoryQuery("total")
    assert matches("{author: [u1, u2]}", author_id="u2")
    assert not matches("{author: [u1, u2]}", author_id="u3")
    assert matches("{history: rejected, days: 30, gte: 2}", history={rejected_30: 2, total: 9})
    assert not matches("{history: rejected, days: 30, gte: 2}", history={rejected_30: 1})
    assert matches("{first_comment: true}", history={total: 0})
    assert not matches("{first_comment: true}", history={total: 1})
    assert matches("{first_comment: false}", history={total: 1})


def test_a_named_list_serves_author_ids():
    ruleset = load_rules_text(
        "default: {action: escalate}\n"
        "lists: {trusted: {entries: [alice, bob]}}\n"
        "rules:\n  - {id: trusted, when: {author: trusted}, action: approve}\n"
    )
    assert ruleset.evaluate(make_ctx(author_id="bob")).action is Action.APPROVE
    assert ruleset.evaluate(make_ctx(author_id="eve")).action is Action.ESCALATE


def test_a_history_count_the_caller_did_not_pass_is_an_error():
    with pytest.raises(ValueError, match=r"HistoryQuery\(kind='rejected', days=30\)"):
        matches("{history: rejected, days: 30, gte: 2}", history={})


def test_article_and_comment_conditions():
    assert matches("{section: [Politics, world]}", section="politics")
    assert not matches("{section: [politics]}", section=None)
    assert matches("{tags: [elections, budget]}", tags=("Budget", "city"))
    assert not matches("{tags: [elections]}", tags=("city",))
    assert matches("{reply: true}", is_reply=True)
    assert matches("{reply: false}", is_reply=False)
    published = NOW - timedelta(hours=49)
    assert matches("{article_age: hours, gte: 48}", published_at=published)
    assert matches("{article_age: days, between: [2, 3]}", published_at=published)
    assert not matches("{article_age: minutes, lt: 60}", published_at=published)
    assert not matches("{article_age: hours, gte: 0}", published_at=None)
    naive = datetime(2024, 5, 1, 11, 0)  # naive datetimes are taken as UTC
    assert matches("{article_age: minutes, between: [59, 61]}", published_at=naive)


def test_all_any_not():
    cond = "{all: [{score: toxicity, gte: 0.5}, {any: [{reply: true}, {not: {section: [a]}}]}]}"
    assert matches(cond, scores={"toxicity": 0.6}, section="b")
    assert matches(cond, scores={"toxicity": 0.6}, section="a", is_reply=True)
    assert not matches(cond, scores={"toxicity": 0.6}, section="a")
    assert not matches(cond, scores={"toxicity": 0.4}, section="b")


def test_first_decisive_match_wins_and_reasons_list_what_matched():
    ruleset = rules(
        "  - {id: note, when: {score: toxicity, gte: 0.1}, labels: [noted], message: noted}\n"
        "  - {id: first, when: {score: toxicity, gte: 0.5}, action: escalate, labels: [a]}\n"
        "  - {id: second, when: {score: toxicity, gte: 0.5}, action: reject, labels: [b]}\n"
    )
    verdict = ruleset.evaluate(make_ctx(scores={"toxicity": 0.7}))
    assert verdict == Verdict(
        action=Action.ESCALATE,
        reasons=[Reason("note", "noted"), Reason("first", "rule first")],
        rule="first",
        priority=0,
        labels=["noted", "a"],
    )


def test_a_later_match_with_higher_priority_takes_over():
    ruleset = rules(
        "  - {id: low, when: {score: spam, gte: 0.5}, action: escalate, priority: 1}\n"
        "  - {id: same, when: {score: spam, gte: 0.5}, action: approve, priority: 1}\n"
        "  - {id: note, when: {score: spam, gte: 0.5}, labels: [late]}\n"
        "  - {id: high, when: {score: spam, gte: 0.9}, action: reject, priority: 5}\n"
        "  - {id: higher-no-match, when: {score: spam, gte: 1.0, lt: 1.0}, action: approve,"
        " priority: 9}\n"
    )
    verdict = ruleset.evaluate(make_ctx(scores={"spam": 0.95}))
    assert (verdict.action, verdict.rule, verdict.priority) == (Action.REJECT, "high", 5)
    # Equal priority never overrides; annotations after the decision are not applied.
    assert [r.rule for r in verdict.reasons] == ["low", "high"]
    assert verdict.labels == []
    verdict = ruleset.evaluate(make_ctx(scores={"spam": 0.6}))
    assert (verdict.action, verdict.rule, verdict.priority) == (Action.ESCALATE, "low", 1)


def test_evaluation_stops_once_no_later_rule_can_take_over():
    ruleset = rules(
        "  - {id: decide, when: {score: spam, gte: 0.5}, action: reject}\n"
        "  - {id: never, when: {history: total, gte: 0}, action: approve}\n"
    )
    # "never" would need a history count the context lacks; it is not even evaluated.
    assert ruleset.evaluate(make_ctx(scores={"spam": 0.9})).rule == "decide"


def test_the_default_decides_when_nothing_decisive_matches():
    ruleset = load_rules_text(
        "default: {action: escalate, message: 'nothing matched ({length} chars)', "
        "priority: 2, labels: [unsure]}\n"
        "rules:\n"
        "  - {id: note, when: {reply: true}, labels: [reply], priority: 7}\n"
        "  - {id: spam, when: {score: spam, gte: 0.9}, action: reject}\n"
    )
    verdict = ruleset.evaluate(make_ctx("hello", is_reply=True, scores={"spam": 0.1}))
    assert verdict == Verdict(
        action=Action.ESCALATE,
        reasons=[Reason("note", "rule note"), Reason("default", "nothing matched (5 chars)")],
        rule=None,
        priority=7,
        labels=["reply", "unsure"],
    )
    assert rules("  - {id: x, when: {reply: true}, action: reject}\n").evaluate(
        make_ctx()
    ).reasons == [Reason("default", "no rule matched")]


def test_messages_quote_scores_matches_and_facts():
    ruleset = load_rules_text(
        "default: {action: approve}\n"
        "rules:\n"
        "  - id: r\n"
        "    when: {any: [{all: [{words: [dolt]}, {reply: true}]}, {not: {words: [never]}}]}\n"
        "    action: escalate\n"
        "    message: >-\n"
        "      tox {score.toxicity:.2f} spam {score.spam:.0%} threat {score.threat}\n"
        "      matched [{matched}] {rule} {links} link(s) {domains} domain(s)\n"
        "      in {section}, {history.rejected_30d} rejected, model {evidence.model}, {{braces}}\n"
    )
    verdict = ruleset.evaluate(
        make_ctx(
            "a dolt at x.com",
            scores={"toxicity": 0.456, "spam": 0.5},
            section="news",
            history={HistoryQuery("rejected", 30): 3},
            evidence={"model": "offline"},
        )
    )
    # "dolt" was found, but inside an "all" that failed: no reason to quote it.
    assert verdict.reasons == [
        Reason(
            "r",
            "tox 0.46 spam 50% threat n/a matched [] r 1 link(s) 1 domain(s) "
            "in news, 3 rejected, model offline, {braces}",
        )
    ]
    assert ruleset.history_queries == {HistoryQuery("rejected", 30)}
    assert ruleset.score_names == {"toxicity", "spam", "threat"}


def test_matched_words_are_quoted_in_the_message():
    ruleset = load_rules_text(
        "default: {action: approve}\n"
        "rules:\n"
        "  - {id: r, when: {all: [{words: [idiot, moron]}, {phrases: [go away]}]},"
        " action: reject, message: 'matched {matched}'}\n"
    )
    verdict = ruleset.evaluate(make_ctx("Go away, you 1d10t m0r0n, idiot"))
    assert verdict.reasons == [Reason("r", "matched idiot, moron, go away")]


def test_score_names_and_history_queries_cover_every_reference():
    ruleset = rules(
        "  - {id: a, when: {any: [{score: spam, gte: 0.5}, {first_comment: true}]},"
        " action: reject}\n"
        "  - {id: b, when: {not: {history: approved, gte: 1}}, action: escalate,"
        " message: '{score.insult}'}\n"
    )
    assert ruleset.score_names == {"spam", "insult"}
    assert ruleset.history_queries == {HistoryQuery("total"), HistoryQuery("approved")}


def test_history_query_keys():
    assert HistoryQuery.parse("rejected_30d") == HistoryQuery("rejected", 30)
    assert HistoryQuery.parse("total").key == "total"
    assert HistoryQuery("escalated", 7).key == "escalated_7d"
    assert hash(HistoryQuery("total", None)) == hash(HistoryQuery("total"))
    with pytest.raises(ValueError, match="not a history count"):
        HistoryQuery.parse("rejected_30")
    with pytest.raises(ValueError, match="not one of"):
        HistoryQuery("deleted")


def test_regexes_run_on_re2_so_catastrophic_patterns_stay_linear():
    ruleset = rules('  - {id: redos, when: {regex: "(a+)+$"}, action: reject}\n')
    condition = ruleset.rule("redos").spec.when
    # The compiled pattern is an RE2 object, not Python's backtracking `re`.
    compiled = compile_condition(condition, {}).__closure__
    assert any(type(c.cell_contents).__module__.startswith("re2") for c in compiled)
    text = "a" * 100_000 + "!"
    started = time.monotonic()
    verdict = ruleset.evaluate(make_ctx(text))
    assert verdict.rule is None  # no match: "$" needs the a's to reach the end
    assert ruleset.evaluate(make_ctx("a" * 100_000)).rule == "redos"
    assert time.monotonic() - started < 5  # Python's re would take longer than the universe
