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

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moderation.policy import models as m
from moderation.policy._template import Template, literal, parse_template
from moderation.policy.conditions import ConditionModel, Loc, Test
from moderation.policy.context import EvaluationContext, Facts, HistoryQuery
from moderation.policy.models import Action

__all__ = [
    "DefaultAction",
    "Reason",
    "Rule",
    "RuleSet",
    "Verdict",
    "compile_condition",
    "iter_conditions",
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


def compile_condition(cond: ConditionModel, lists: Mapping[str, tuple[str, ...]]) -> Test:
    """Turn a validated condition into a function of the comment's facts.

    ``lists`` holds the resolved named lists; names were checked by the loader.
    """
    return cond.compile(lists)


def iter_conditions(cond: ConditionModel, loc: Loc) -> Iterator[tuple[ConditionModel, Loc]]:
    """Yield ``(condition, loc)`` for a condition and every condition inside it."""
    yield cond, loc
    for child, where in cond.children():
        yield from iter_conditions(child, (*loc, *where))


# --- rules and rule sets -------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One compiled rule. ``spec`` is the validated model it came from."""

    spec: m.RuleModel
    test: Test = field(repr=False, compare=False)
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


def _lookup(
    facts: Facts, rule_id: str | None, matched: Sequence[str]
) -> Callable[[tuple[str, ...]], Any]:
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
        if head == "reports":
            return ctx.reports.summary() if len(path) == 1 else ctx.reports.count(path[1])
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


def template_reads_reports(template: Template) -> bool:
    return any(f.path[0] == "reports" for f in template.fields)


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
        reports = False
        templates = [r.template for r in self.rules] + [default.template]
        for rule in self.rules:
            for cond, _ in iter_conditions(rule.spec.when, ()):
                scores.update(cond.score_names())
                history.update(cond.history_queries())
                reports = reports or cond.needs_reports()
        for template in templates:
            s, h = template_references(template)
            scores |= s
            history |= h
            reports = reports or template_reads_reports(template)
        self.score_names: frozenset[str] = frozenset(scores)
        self.history_queries: frozenset[HistoryQuery] = frozenset(history)
        self.needs_reports: bool = reports
        """Whether a condition or message reads the comment's reader reports (the caller
        then counts them: ``EvaluationContext.reports``)."""
        # Highest priority among decisive rules from position i on: lets evaluation stop.
        self._later_max: list[int | None] = [None] * (len(self.rules) + 1)
        for i in range(len(self.rules) - 1, -1, -1):
            best = self._later_max[i + 1]
            rule = self.rules[i]
            if rule.decisive and (best is None or rule.priority > best):
                best = rule.priority
            self._later_max[i] = best
        self.report_rules: list[Rule] = [
            r
            for r in self.rules
            if r.decisive and any(c.needs_reports() for c, _ in iter_conditions(r.spec.when, ()))
        ]
        """Rules with an action whose conditions read the readers' reports."""

    def __repr__(self) -> str:
        return f"<RuleSet {self.source} version {self.version[:8]} ({len(self.rules)} rules)>"

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def matching_report_rules(self, ctx: EvaluationContext) -> list[tuple[Rule, Reason]]:
        """The ``report_rules`` that match ``ctx``, each with its reason, evaluated on their
        own: what the reports ask of the comment, even where ``evaluate`` stops before them
        (a rule of higher priority decided first)."""
        facts = Facts(ctx)
        out = []
        for rule in self.report_rules:
            facts.matched = []
            if rule.test(facts):
                message = rule.template.render(_lookup(facts, rule.id, facts.matched))
                out.append((rule, Reason(rule.id, message)))
        return out

    def evaluate(self, ctx: EvaluationContext) -> Verdict:
        facts = Facts(ctx)
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
