"""Inline tests: the ``tests:`` list of a rules file, run against the rules themselves.

A test with fixed ``scores`` runs without models. A test without ``scores`` needs the real
scorers: pass ``score_fn`` (``moderation rules test`` builds one from the active scorers),
otherwise the outcome is *skipped* and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from moderation.policy.context import ArticleFacts, EvaluationContext, HistoryQuery, ReportCounts
from moderation.policy.evaluator import Verdict
from moderation.policy.models import InlineTestModel

if TYPE_CHECKING:
    from moderation.policy.evaluator import RuleSet

__all__ = ["InlineTest", "ScoreFn", "TestOutcome", "covered_rules", "run_inline_tests"]

ScoreFn = Callable[[str, str, str, "str | None"], Mapping[str, float]]
"""``score_fn(text, article_title, article_body, parent_text) -> {score name: value}``."""

REFERENCE_TIME = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
"""When inline-test comments are written; ``article.age_hours`` counts back from it."""


@dataclass(frozen=True)
class InlineTest:
    index: int
    spec: InlineTestModel
    source: str = "<string>"
    line: int | None = None

    @property
    def label(self) -> str:
        name = f" ({self.spec.name})" if self.spec.name else ""
        return f"tests[{self.index}]{name}"

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    @property
    def needs_real_scores(self) -> bool:
        return self.spec.scores is None

    def context(self, ruleset: RuleSet, scores: Mapping[str, float]) -> EvaluationContext:
        spec = self.spec
        published = (
            REFERENCE_TIME - timedelta(hours=spec.article.age_hours)
            if spec.article.age_hours is not None
            else None
        )
        history = {q: 0 for q in ruleset.history_queries}
        for key, count in spec.author.history.items():
            history[HistoryQuery.parse(key)] = count
        return EvaluationContext(
            scores=dict(scores),
            text=spec.text,
            author_id=spec.author.id,
            article=ArticleFacts(
                id="inline-test",
                section=spec.article.section,
                tags=tuple(spec.article.tags),
                published_at=published,
            ),
            is_reply=spec.parent is not None,
            created_at=REFERENCE_TIME,
            history=history,
            reports=ReportCounts(dict(spec.reports)),
            author_status=spec.author.status,
        )


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    test: InlineTest
    status: Literal["passed", "failed", "skipped"]
    verdict: Verdict | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    detail: str = ""
    """Why it was skipped, or the expected-versus-got diff of a failure."""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    def render(self) -> str:
        head = f"{self.test.where}: {self.test.label} {self.status.upper()}"
        if self.detail:
            return head + "\n" + self.detail
        return head


def _decision(action: str, rule: str | None) -> str:
    return f"{action} by {'rule ' + rule if rule else 'the default'}"


def _check(test: InlineTest, verdict: Verdict, scores: Mapping[str, float]) -> str | None:
    expect = test.spec.expect
    lines = []
    wrong_rule = expect.checks_rule and verdict.rule != expect.rule
    if verdict.action.value != expect.action or wrong_rule:
        wanted = _decision(expect.action, expect.rule) if expect.checks_rule else expect.action
        lines.append(f"  - expected: {wanted}")
        lines.append(f"  + got:      {_decision(verdict.action.value, verdict.rule)}")
    if expect.labels is not None:
        missing = [label for label in expect.labels if label not in verdict.labels]
        if missing:
            lines.append(f"  - expected labels: {', '.join(expect.labels)}")
            lines.append(f"  + got labels:      {', '.join(verdict.labels) or '(none)'}")
    if expect.priority is not None and verdict.priority != expect.priority:
        lines.append(f"  - expected priority: {expect.priority}")
        lines.append(f"  + got priority:      {verdict.priority}")
    if not lines:
        return None
    text = test.spec.text if len(test.spec.text) <= 120 else test.spec.text[:119] + "…"
    lines.insert(0, f"  text:     {text!r}")
    lines.append("  reasons:")
    lines.extend(f"    {r.rule}: {r.message}" for r in verdict.reasons)
    shown = " ".join(f"{k}={v:.2f}" for k, v in sorted(scores.items())) or "(none)"
    lines.append(f"  scores:   {shown}")
    return "\n".join(lines)


def run_inline_tests(ruleset: RuleSet, score_fn: ScoreFn | None = None) -> list[TestOutcome]:
    """Run every inline test of ``ruleset``; one outcome per test, in file order."""
    outcomes = []
    for test in ruleset.tests:
        spec = test.spec
        if spec.scores is not None:
            scores: Mapping[str, float] = dict(spec.scores)
        elif score_fn is None:
            outcomes.append(
                TestOutcome(
                    test,
                    "skipped",
                    detail="  skipped: no fixed scores, so it needs the real scorers "
                    "(run `moderation rules test`, which loads them)",
                )
            )
            continue
        else:
            scores = dict(score_fn(spec.text, spec.article.title, spec.article.body, spec.parent))
        verdict = ruleset.evaluate(test.context(ruleset, scores))
        problem = _check(test, verdict, scores)
        status: Literal["passed", "failed"] = "failed" if problem else "passed"
        outcomes.append(TestOutcome(test, status, verdict, scores, problem or ""))
    return outcomes


def covered_rules(outcomes: Iterable[TestOutcome]) -> set[str]:
    """Ids of the rules that matched in at least one test that ran."""
    return {
        reason.rule
        for outcome in outcomes
        if outcome.verdict is not None
        for reason in outcome.verdict.reasons
        if reason.rule != "default"
    }
