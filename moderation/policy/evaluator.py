"""Runs a loaded rules file against one comment's scores and facts.

Order and priority (``rules/README.md`` says the same for operators):

1. Rules are evaluated in file order. A rule with an ``action`` is *decisive*; one
   without (labels and/or priority only) is an *annotation*.
2. The first decisive rule that matches becomes the decision. After it, only decisive
   rules with a strictly higher ``priority`` than the current decision are evaluated;
   one that matches takes the decision over. Evaluation stops once no later rule could.
   Annotations are applied only while no decision has been made (put them first).
3. Nothing decisive matched: the file's ``default`` decides.
4. ``Verdict.reasons`` lists every matching rule that was evaluated, in file order
   (and the default's message when the default decided); ``labels`` joins their labels;
   ``priority`` is the highest priority among them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from moderation.policy import models as m
from moderation.policy._template import Template, literal, parse_template
from moderation.policy.models import Action, HistoryQuery
from moderation.policy.normaliser import (
    PhraseMatcher,
    TermMatcher,
    canonicalise,
    compile_re2,
    find_urls,
    normalise_text,
    url_domains,
)

__all__ = [
    "ArticleFacts",
    "DefaultAction",
    "EvaluationContext",
    "Reason",
    "Rule",
    "RuleSet",
    "Verdict",
    "compile_condition",
]


@dataclass(frozen=True)
class Reason:
    rule: str
    message: str


@dataclass(frozen=True)
class Verdict:
    action: Action
    reasons: list[Reason]
    rule: str | None
    """Id of the deciding rule; None when the default decided."""
    priority: int
    labels: list[str]


@dataclass(frozen=True)
class ArticleFacts:
    id: str
    section: str | None = None
    tags: tuple[str, ...] = ()
    published_at: datetime | None = None


@dataclass(frozen=True)
class EvaluationContext:
    scores: Mapping[str, float]
    text: str
    author_id: str
    article: ArticleFacts
    is_reply: bool
    created_at: datetime
    history: Mapping[HistoryQuery, int] = field(default_factory=dict)
    """Counts of the author's earlier comments, one per ``RuleSet.history_queries``."""
    evidence: Mapping[str, Any] = field(default_factory=dict)


class _Facts:
    """What conditions ask about one comment, computed at most once per evaluation."""

    def __init__(self, ctx: EvaluationContext):
        self.ctx = ctx
        self.matched: list[str] = []
        self._canonical: str | None = None
        self._normalised: str | None = None
        self._urls: list[str] | None = None
        self._domains: list[str] | None = None

    @property
    def canonical(self) -> str:
        if self._canonical is None:
            self._canonical = canonicalise(self.ctx.text)
        return self._canonical

    @property
    def normalised(self) -> str:
        if self._normalised is None:
            self._normalised = normalise_text(self.ctx.text)
        return self._normalised

    @property
    def urls(self) -> list[str]:
        if self._urls is None:
            self._urls = find_urls(self.ctx.text)
        return self._urls

    @property
    def domains(self) -> list[str]:
        if self._domains is None:
            self._domains = url_domains(self.urls)
        return self._domains

    def history(self, query: HistoryQuery) -> int:
        try:
            return self.ctx.history[query]
        except KeyError:
            raise ValueError(
                f"the rules need the author's history count {query} but the caller did not "
                "pass it; count every query in RuleSet.history_queries"
            ) from None


# --- compiled conditions -----------------------------------------------------------------


class _Test(Protocol):
    def __call__(self, facts: _Facts) -> bool: ...


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_AGE_UNIT_SECONDS = {"minutes": 60.0, "hours": 3600.0, "days": 86400.0}


def compile_condition(cond: Any, lists: Mapping[str, tuple[str, ...]]) -> _Test:
    """Turn a validated condition model into a function of the comment's facts.

    ``lists`` holds the resolved named lists; names were checked by the loader.
    """
    if isinstance(cond, m.AllCondition):
        children = [compile_condition(c, lists) for c in cond.all]

        def all_(facts: _Facts) -> bool:
            mark = len(facts.matched)
            for child in children:
                if not child(facts):
                    del facts.matched[mark:]
                    return False
            return True

        return all_
    if isinstance(cond, m.AnyCondition):
        children = [compile_condition(c, lists) for c in cond.any]
        return lambda facts: any(child(facts) for child in children)
    if isinstance(cond, m.NotCondition):
        child = compile_condition(cond.not_, lists)

        def not_(facts: _Facts) -> bool:
            mark = len(facts.matched)
            result = child(facts)
            del facts.matched[mark:]  # what a negated condition found is no reason
            return not result

        return not_
    if isinstance(cond, m.ScoreCondition):
        name, compare = cond.score, cond.compare

        def score(facts: _Facts) -> bool:
            value = facts.ctx.scores.get(name)
            return value is not None and compare(float(value))

        return score
    if isinstance(cond, m.HistoryCondition):
        query, compare = cond.query, cond.compare
        return lambda facts: compare(facts.history(query))
    if isinstance(cond, m.FirstCommentCondition):
        want = cond.first_comment
        total = HistoryQuery("total")
        return lambda facts: (facts.history(total) == 0) == want
    if isinstance(cond, m.CountCondition):
        return _count_test(cond)
    if isinstance(cond, m.ArticleAgeCondition):
        unit, compare = _AGE_UNIT_SECONDS[cond.article_age], cond.compare

        def article_age(facts: _Facts) -> bool:
            published = facts.ctx.article.published_at
            if published is None:
                return False
            age = (_aware(facts.ctx.created_at) - _aware(published)).total_seconds()
            return compare(age / unit)

        return article_age
    if isinstance(cond, m.WordsCondition):
        terms = TermMatcher(_entries(cond.words, lists))

        def words(facts: _Facts) -> bool:
            found = terms.find(facts.canonical)
            facts.matched.extend(found)
            return bool(found)

        return words
    if isinstance(cond, m.PhrasesCondition):
        phrases = PhraseMatcher(_entries(cond.phrases, lists))

        def phrases_(facts: _Facts) -> bool:
            found = phrases.find(facts.normalised)
            facts.matched.extend(found)
            return bool(found)

        return phrases_
    if isinstance(cond, m.RegexCondition):
        regex = compile_re2(cond.regex)

        def regex_(facts: _Facts) -> bool:
            match = regex.search(facts.ctx.text)
            if match is None:
                return False
            facts.matched.append(match.group(0)[:100])
            return True

        return regex_
    if isinstance(cond, m.AuthorCondition):
        ids = frozenset(_entries(cond.author, lists))
        return lambda facts: facts.ctx.author_id in ids
    if isinstance(cond, m.ReplyCondition):
        want = cond.reply
        return lambda facts: facts.ctx.is_reply == want
    if isinstance(cond, m.SectionCondition):
        sections = frozenset(s.casefold() for s in cond.section)

        def section(facts: _Facts) -> bool:
            value = facts.ctx.article.section
            return value is not None and value.casefold() in sections

        return section
    if isinstance(cond, m.TagsCondition):
        wanted = frozenset(t.casefold() for t in cond.tags)
        return lambda facts: any(t.casefold() in wanted for t in facts.ctx.article.tags)
    raise TypeError(f"not a condition: {cond!r}")  # pragma: no cover - models forbid it


def _count_test(cond: m.CountCondition) -> _Test:
    compare = cond.compare
    if cond.count == "chars":
        return lambda facts: compare(len(facts.ctx.text))
    if cond.count == "words":
        return lambda facts: compare(len(facts.ctx.text.split()))
    if cond.count == "links":
        return lambda facts: compare(len(facts.urls))
    return lambda facts: compare(len(facts.domains))


def _entries(ref: str | tuple[str, ...], lists: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    return lists[ref] if isinstance(ref, str) else ref


def iter_conditions(cond: Any, loc: tuple[str | int, ...]):
    """Yield ``(condition, loc)`` for a condition and every condition inside it."""
    yield cond, loc
    if isinstance(cond, m.AllCondition):
        for i, child in enumerate(cond.all):
            yield from iter_conditions(child, (*loc, "all", i))
    elif isinstance(cond, m.AnyCondition):
        for i, child in enumerate(cond.any):
            yield from iter_conditions(child, (*loc, "any", i))
    elif isinstance(cond, m.NotCondition):
        yield from iter_conditions(cond.not_, (*loc, "not"))


# --- rules and rule sets -------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One compiled rule. ``spec`` is the validated model it came from."""

    spec: m.RuleModel
    test: _Test = field(repr=False, compare=False)
    template: Template = field(repr=False, compare=False)
    source: str = "<string>"
    line: int | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def action(self) -> Action | None:
        return Action(self.spec.action) if self.spec.action else None

    @property
    def priority(self) -> int:
        return self.spec.priority

    @property
    def labels(self) -> list[str]:
        return list(self.spec.labels)

    @property
    def decisive(self) -> bool:
        return self.spec.action is not None

    @classmethod
    def build(
        cls,
        spec: m.RuleModel,
        lists: Mapping[str, tuple[str, ...]],
        *,
        source: str = "<string>",
        line: int | None = None,
    ) -> Rule:
        template = parse_template(spec.message) if spec.message else literal(f"rule {spec.id}")
        return cls(spec, compile_condition(spec.when, lists), template, source, line)


@dataclass(frozen=True)
class DefaultAction:
    spec: m.DefaultModel
    template: Template = field(repr=False, compare=False)

    @property
    def action(self) -> Action:
        return Action(self.spec.action)

    @classmethod
    def build(cls, spec: m.DefaultModel) -> DefaultAction:
        template = parse_template(spec.message) if spec.message else literal("no rule matched")
        return cls(spec, template)


def _lookup(facts: _Facts, rule_id: str | None, matched: Sequence[str]):
    ctx = facts.ctx

    def lookup(path: tuple[str, ...]) -> Any:
        head = path[0]
        if head == "score":
            return ctx.scores.get(path[1])
        if head == "matched":
            return ", ".join(dict.fromkeys(matched))
        if head == "rule":
            return rule_id or "default"
        if head == "length":
            return len(ctx.text)
        if head == "links":
            return len(facts.urls)
        if head == "domains":
            return len(facts.domains)
        if head == "section":
            return ctx.article.section
        if head == "history":
            return ctx.history.get(HistoryQuery.parse(path[1]))
        if head == "evidence":
            return ctx.evidence.get(path[1])
        return None  # pragma: no cover - templates are checked at load

    return lookup


def template_references(template: Template) -> tuple[set[str], set[HistoryQuery]]:
    scores, history = set(), set()
    for f in template.fields:
        if f.path[0] == "score":
            scores.add(f.path[1])
        elif f.path[0] == "history":
            history.add(HistoryQuery.parse(f.path[1]))
    return scores, history


class RuleSet:
    """A loaded rules file. Build it with ``load_rules``/``load_rules_text``."""

    def __init__(
        self,
        *,
        version: str,
        source: str,
        content: str,
        rules: Sequence[Rule],
        default: DefaultAction,
        lists: Mapping[str, tuple[str, ...]],
        tests: Sequence[Any] = (),
        extends: RuleSet | None = None,
        files: Sequence[Path] = (),
        sources: Mapping[str, str] | None = None,
    ):
        self.version = version
        self.source = source
        self.content = content
        self.rules: list[Rule] = list(rules)
        self.default = default
        self.lists = dict(lists)
        self.tests: list[Any] = list(tests)
        self.extends = extends
        self.files: list[Path] = list(files)
        """Every file this was built from (the rules file, its word lists, the files it
        extends, recursively): what to watch for changes."""
        self.sources: dict[str, str] = dict(sources or {source: content})
        """The text of each of those files as it was read: what the version hash covers,
        kept with the stored version so any decision can be explained later."""
        scores: set[str] = set()
        history: set[HistoryQuery] = set()
        templates = [r.template for r in self.rules] + [default.template]
        for rule in self.rules:
            for cond, _ in iter_conditions(rule.spec.when, ()):
                if isinstance(cond, m.ScoreCondition):
                    scores.add(cond.score)
                elif isinstance(cond, m.HistoryCondition):
                    history.add(cond.query)
                elif isinstance(cond, m.FirstCommentCondition):
                    history.add(HistoryQuery("total"))
        for template in templates:
            s, h = template_references(template)
            scores |= s
            history |= h
        self.score_names: frozenset[str] = frozenset(scores)
        self.history_queries: frozenset[HistoryQuery] = frozenset(history)
        # Highest priority among decisive rules from position i on: lets evaluation stop.
        self._later_max: list[int | None] = [None] * (len(self.rules) + 1)
        for i in range(len(self.rules) - 1, -1, -1):
            best = self._later_max[i + 1]
            rule = self.rules[i]
            if rule.decisive and (best is None or rule.priority > best):
                best = rule.priority
            self._later_max[i] = best

    def __repr__(self) -> str:
        return f"<RuleSet {self.source} version {self.version[:8]} ({len(self.rules)} rules)>"

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def evaluate(self, ctx: EvaluationContext) -> Verdict:
        facts = _Facts(ctx)
        reasons: list[Reason] = []
        labels: dict[str, None] = {}
        priorities: list[int] = []
        decision: Rule | None = None
        for i, rule in enumerate(self.rules):
            if decision is not None:
                later = self._later_max[i]
                if later is None or later <= decision.priority:
                    break
                if not rule.decisive or rule.priority <= decision.priority:
                    continue
            facts.matched = []
            if not rule.test(facts):
                continue
            reasons.append(
                Reason(rule.id, rule.template.render(_lookup(facts, rule.id, facts.matched)))
            )
            labels.update(dict.fromkeys(rule.labels))
            priorities.append(rule.priority)
            if rule.decisive:
                decision = rule
        if decision is not None:
            action: Action = decision.action  # type: ignore[assignment]
            rule_id: str | None = decision.id
        else:
            default = self.default
            action, rule_id = default.action, None
            reasons.append(Reason("default", default.template.render(_lookup(facts, None, []))))
            labels.update(dict.fromkeys(default.spec.labels))
            priorities.append(default.spec.priority)
        return Verdict(
            action=action,
            reasons=reasons,
            rule=rule_id,
            priority=max(priorities),
            labels=list(labels),
        )
