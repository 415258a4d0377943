from __future__ import annotations

from moderation.policy import load_rules, load_rules_text
from moderation.policy.diff import describe_condition, diff_rulesets

from .helpers import FIXTURES

OLD = """\
default: {action: approve}
lists: {mild: {entries: [idiot, moron]}}
rules:
  - {id: toxic, when: {score: toxicity, gte: 0.9}, action: reject, message: "tox"}
  - {id: borderline, when: {score: toxicity, between: [0.5, 0.9]}, action: escalate}
  - {id: spam, when: {score: spam, gte: 0.9}, action: reject}
  - {id: mild, when: {words: mild}, action: escalate, labels: [mild]}
  - {id: gone, when: {reply: true}, action: escalate}
"""

NEW = """\
default: {action: escalate}
lists: {mild: {entries: [idiot, clown, dolt]}}
rules:
  - {id: spam, when: {score: spam, gte: 0.9}, action: reject}
  - {id: toxic, when: {score: toxicity, gte: 0.85}, action: reject, message: "toxic"}
  - {id: borderline, when: {score: toxicity, between: [0.4, 0.85]}, action: reject, priority: 3}
  - {id: mild, when: {any: [{words: mild}, {count: links, gte: 2}]}, action: escalate,
     labels: [mild, links]}
  - {id: new, when: {all: [{section: [politics]}, {first_comment: true}]}, labels: [watch]}
"""


def test_diff_names_every_kind_of_change():
    assert diff_rulesets(load_rules_text(OLD), load_rules_text(NEW)) == [
        "default action: approve -> escalate",
        "removed rule 'gone' (was at position 5)",
        "changed rule 'spam': order (position 3 -> 1)",
        "changed rule 'toxic': thresholds score toxicity gte 0.9 -> 0.85; message 'tox' -> 'toxic'",
        "changed rule 'borderline': thresholds score toxicity between low 0.5 -> 0.4, "
        "score toxicity between high 0.9 -> 0.85; action escalate -> reject; priority 0 -> 3",
        "changed rule 'mild': conditions words mild -> any(words mild, count links >= 2); "
        "labels ['mild'] -> ['mild', 'links']",
        "added rule 'new' at position 5: labels only when "
        "all(section [politics], first_comment true)",
        "changed list 'mild': 2 added, 1 removed",
    ]


def test_identical_rules_have_no_differences():
    assert diff_rulesets(load_rules_text(OLD), load_rules_text(OLD + "\n# comment\n")) == []


def test_diff_of_a_site_file_against_the_file_it_extends():
    site = load_rules(FIXTURES / "good" / "site.yaml")
    assert site.extends is not None
    assert diff_rulesets(site.extends, site) == [
        "default action: approve -> escalate",
        "default: message None -> 'site policy: everything else is reviewed'",
        "removed rule 'off-topic' (was at position 3)",
        "changed rule 'toxic': thresholds score toxicity gte 0.9 -> 0.8",
        "added rule 'politics-links' at position 3: reject when "
        "all(section [politics], count links >= 1)",
        "changed list 'insults': 1 added, 2 removed",
    ]


def test_describe_condition():
    ruleset = load_rules_text(
        "default: {action: approve}\nrules:\n"
        "  - id: r\n"
        "    when: {not: {any: [{history: rejected, days: 30, gt: 2, lte: 9},"
        " {regex: 'a+'}, {author: [x]}, {tags: [t]}, {article_age: hours, lt: 1},"
        " {reply: false}, {phrases: [buy now]}]}}\n"
        "    action: reject\n"
    )
    assert describe_condition(ruleset.rule("r").spec.when) == (
        "not(any(history rejected_30d > 2 and <= 9, regex 'a+', author [x], tags [t], "
        "article_age hours < 1, reply false, phrases [buy now]))"
    )
