"""Property tests: any text, however hostile, goes through the normaliser, the rules loader
and the evaluator to a result (a normalised text, a RuleSet or a RulesError, a verdict),
never to another exception."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.exceptions import RulesError
from moderation.policy import Action, HistoryQuery, RuleSet, load_rules, load_rules_text
from moderation.policy.normaliser import (
    PhraseMatcher,
    TermMatcher,
    canonicalise,
    find_urls,
    normalise_text,
    url_domains,
)
from moderation.scoring import expected_labels
from moderation.settings import Settings
from moderation.textfeatures import find_contacts, whole_characters
from tests.hostile_text import EXTREMES, hostile_text

from .helpers import ROOT, make_ctx

SHIPPED_RULES = sorted((ROOT / "rules").glob("*.yaml"))
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every condition of the language, so that each one meets the hostile text.
EVERY_CONDITION = """\
default: {action: approve, message: "nothing matched in {length} characters"}
lists:
  insults: {entries: [idiot, "c1own", "go kill yourself", "ѕрам"]}
  trusted: {entries: [u-trusted]}
rules:
  - id: note
    when: {any: [{first_comment: true}, {history: total, gte: 100}]}
    labels: [noted]
    priority: 1
  - id: insult
    when: {words: insults}
    action: reject
    message: "insult: {matched}"
  - id: sales
    when: {phrases: ["buy now", "100% free", "win $1000", "🤬"]}
    action: escalate
    message: "sales: {matched} in {section}"
  - id: pattern
    when: {regex: "(?i)(?:\\\\bviagra\\\\b|\\\\p{Cf}+|[\\\\x{1F300}-\\\\x{1FAFF}]{3,}|.{1000,})"}
    action: escalate
    message: "pattern: {matched} ({links} links, {domains} domains)"
  - id: linky
    when:
      all:
        - {count: links, gte: 2}
        - {count: domains, gte: 1}
        - {count: words, lte: 100000}
        - {count: chars, gte: 1}
    action: reject
    message: "links {links}"
  - id: context
    when:
      any:
        - {section: [politics, "Ω"]}
        - {tags: [elections]}
        - {article_age: days, gte: 30}
        - {not: {reply: false}}
        - {author: trusted}
        - {history: rejected, days: 7, gte: 2}
        - {score: toxicity, between: [0.5, 0.9]}
    action: escalate
    message: "context {history.rejected_7d} {score.toxicity:.2f} {evidence.spam}"
"""


def _labels() -> tuple[str, ...]:
    labels = expected_labels(Settings(_env_file=None))
    assert labels is not None
    return labels


RULESETS = {
    "every-condition": load_rules_text(EVERY_CONDITION),
    **{path.name: load_rules(path, available_scores=_labels()) for path in SHIPPED_RULES},
}


def _has_surrogate(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cs" for ch in text)


# --- the normaliser ------------------------------------------------------------------------


def check_normaliser(text: str) -> None:
    normalised = normalise_text(text)
    canonical = canonicalise(text)
    for out in (normalised, canonical):
        assert isinstance(out, str)
        assert out == out.strip() and "  " not in out
        assert not _has_surrogate(out)
        assert not any(unicodedata.category(ch) in ("Cf", "Mn") for ch in out)
    # Word lists and phrases match the text however it is disguised around them.
    framed = f"{text} idiot {text}"
    assert "idiot" in TermMatcher(["idiot", "go kill yourself"]).find_in(framed)
    assert PhraseMatcher(["buy now"]).find_in(f"{text} buy now {text}") == ["buy now"]
    # Whatever is found is in the text as written (links, addresses, numbers).
    contacts = find_contacts(text)
    for found in (*contacts.links, *contacts.emails, *contacts.phones):
        assert found and found in text
    urls = find_urls(text)
    assert len(urls) == len(contacts.links)
    assert len(url_domains(urls)) <= len(urls)
    assert whole_characters(text) == text or _has_surrogate(text)
    assert len(whole_characters(text)) == len(text)


@given(hostile_text())
@FEW
def test_the_normaliser_takes_any_text(text):
    check_normaliser(text)


@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_the_normaliser_takes_the_extremes(name):
    check_normaliser(EXTREMES[name])


def test_a_lone_surrogate_is_a_visible_replacement_not_a_join():
    assert normalise_text("id\ud800iot") == "id\ufffdiot"
    assert TermMatcher(["idiot"]).find_in("id\ud800iot") == []
    assert TermMatcher(["idiot"]).find_in("\udfffidiot\ud800") == ["idiot"]
    assert find_contacts("mail a@b.com\udc00 now").emails == ["a@b.com"]


# --- the rules engine ----------------------------------------------------------------------


@st.composite
def contexts(draw: st.DrawFn, ruleset: RuleSet, text: st.SearchStrategy[str]):
    """An evaluation context with every score and history count the rules ask for."""
    unit = st.floats(min_value=0, max_value=1, allow_nan=False)
    scores = {name: draw(unit) for name in sorted(ruleset.score_names)}
    queries = sorted(ruleset.history_queries, key=lambda q: q.key)
    history = {q: draw(st.integers(min_value=0, max_value=10**6)) for q in queries}
    # The evaluator needs every query it names; "first_comment" reads total.
    history.setdefault(HistoryQuery("total"), draw(st.integers(min_value=0, max_value=5)))
    published = draw(st.none() | st.integers(min_value=-(10**6), max_value=10**7))
    created = datetime(2024, 5, 1, tzinfo=UTC)
    return make_ctx(
        draw(text),
        scores=scores,
        author_id=draw(st.sampled_from(["u1", "u-trusted"]) | hostile_text(max_size=20)),
        section=draw(st.none() | hostile_text(max_size=20)),
        tags=tuple(draw(st.lists(hostile_text(max_size=10), max_size=3))),
        published_at=None if published is None else created - timedelta(minutes=published),
        is_reply=draw(st.booleans()),
        created_at=created,
        history=history,
        evidence={"spam": draw(st.none() | hostile_text(max_size=10))},
    )


def check_verdict(ruleset: RuleSet, ctx) -> None:
    verdict = ruleset.evaluate(ctx)
    assert verdict.action in set(Action)
    assert verdict.reasons and all(isinstance(r.message, str) for r in verdict.reasons)
    assert verdict.rule is None or verdict.rule in {r.id for r in ruleset.rules}
    # A decision is a function of the comment: the same context, the same verdict.
    assert ruleset.evaluate(ctx) == verdict
    # What the decision stores must be storable: reasons encode as UTF-8.
    for reason in verdict.reasons:
        reason.message.encode("utf-8")


@pytest.mark.parametrize("name", sorted(RULESETS))
def test_the_rules_decide_any_comment(name):
    ruleset = RULESETS[name]

    @given(contexts(ruleset, hostile_text()))
    @FEW
    def decide(ctx):
        check_verdict(ruleset, ctx)

    decide()


@pytest.mark.parametrize("text", sorted(EXTREMES))
@pytest.mark.parametrize("name", sorted(RULESETS))
def test_the_rules_decide_the_extremes(name, text):
    ruleset = RULESETS[name]

    @given(contexts(ruleset, st.just(EXTREMES[text])))
    @settings(max_examples=3, deadline=None, database=None)
    def decide(ctx):
        check_verdict(ruleset, ctx)

    decide()


def test_the_every_condition_rules_match_what_they_say():
    ruleset = RULESETS["every-condition"]
    history = {q: 0 for q in ruleset.history_queries} | {HistoryQuery("total"): 3}
    ctx = make_ctx("you 1d10t\u200b", history=history, scores={"toxicity": 0.1})
    assert ruleset.evaluate(ctx).rule == "insult"
    ctx = make_ctx("\u202e" * 3, history=history, scores={"toxicity": 0.1})
    assert ruleset.evaluate(ctx).rule == "pattern"


# --- the loader ----------------------------------------------------------------------------

YAMLISH = st.lists(
    st.sampled_from(
        [
            *"{}[]:,-&*!|>'\"#%@`? \n\t",
            "  ",
            "\n  - ",
            "default",
            "action",
            "approve",
            "rules",
            "id",
            "when",
            "regex",
            "score",
            "not",
            "lists",
            "entries",
            "include",
            "extends",
            "tests",
            "expect",
            "!!python/object:os.system",
            "!!binary",
            "&a",
            "*a",
            "<<",
            "\\ud800",
            "(?<=x)",
            "1e999",
            "0x1F",
            "~",
            "null",
            "yes",
            "2024-13-45",
            "10" * 40,
            "\ufeff",
            "\x00",
            "\u202e",
        ]
    )
    | hostile_text(max_size=5),
    max_size=60,
).map("".join)


@given(YAMLISH)
@settings(max_examples=300, deadline=None)
def test_any_text_is_a_ruleset_or_a_rules_error(tmp_path_factory, text):
    base = tmp_path_factory.getbasetemp()
    try:
        ruleset = load_rules_text(text, base_dir=Path(base))
    except RulesError as exc:
        assert exc.errors and all(isinstance(e, str) and ": " in e for e in exc.errors)
    else:
        assert isinstance(ruleset, RuleSet)


@given(hostile_text(max_size=40))
@settings(max_examples=150, deadline=None)
def test_any_regex_or_entry_text_loads_or_is_a_rules_error(text):
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    for condition in (f'{{regex: "{quoted}"}}', f'{{words: ["{quoted}"]}}'):
        rule = f"{{id: r, when: {condition}, action: reject}}"
        source = f"default: {{action: approve}}\nrules:\n  - {rule}\n"
        try:
            ruleset = load_rules_text(source)
        except RulesError as exc:
            assert all(e.startswith("<string>:") for e in exc.errors), exc.errors
        else:
            verdict = ruleset.evaluate(make_ctx(text))
            assert verdict.action in (Action.APPROVE, Action.REJECT)
