"""Operator-written moderation rules: load a YAML rules file, evaluate comments against it.

The policy package knows scores and rules, not Redis or the database: callers pass in the
scores, the comment's facts and the author's history counts (``RuleSet.history_queries``
says which). The language is documented in ``rules/README.md``.
"""

from moderation.policy.context import ArticleFacts, EvaluationContext, HistoryQuery
from moderation.policy.evaluator import Reason, Rule, RuleSet, Verdict
from moderation.policy.loader import load_rules, load_rules_text
from moderation.policy.models import Action

__all__ = [
    "Action",
    "ArticleFacts",
    "EvaluationContext",
    "HistoryQuery",
    "Reason",
    "Rule",
    "RuleSet",
    "Verdict",
    "load_rules",
    "load_rules_text",
]
