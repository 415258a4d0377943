"""Operator-written moderation rules: load a YAML rules file, evaluate comments against it.

The policy package knows scores and rules, not Redis or the database: callers pass in the
scores, the comment's facts, the author's history counts (``RuleSet.history_queries``
says which) and the readers' reports of the comment (``RuleSet.needs_reports``). The
language is documented in ``rules/README.md``.
"""

from moderation.policy.context import (
    NO_REPORTS,
    ArticleFacts,
    EvaluationContext,
    HistoryQuery,
    ReportCounts,
    ReportReason,
)
from moderation.policy.evaluator import Reason, Rule, RuleSet, Verdict
from moderation.policy.loader import load_rules, load_rules_text
from moderation.policy.models import Action

__all__ = [
    "NO_REPORTS",
    "Action",
    "ArticleFacts",
    "EvaluationContext",
    "HistoryQuery",
    "Reason",
    "ReportCounts",
    "ReportReason",
    "Rule",
    "RuleSet",
    "Verdict",
    "load_rules",
    "load_rules_text",
]
