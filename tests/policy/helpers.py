"""Shared by the policy tests: fixture paths and evaluation contexts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moderation.policy import ArticleFacts, EvaluationContext, HistoryQuery

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = ROOT / "rules" / "default.yaml"
DEFAULT_SCORES = (
    "toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
    "sexual_explicit", "relevance", "spam",
)  # fmt: skip
"""What the default scorers produce: the shipped offline model's labels, relevance, spam."""
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_ctx(
    text: str = "a comment",
    *,
    scores: Mapping[str, float] | None = None,
    author_id: str = "author-1",
    section: str | None = None,
    tags: tuple[str, ...] = (),
    published_at: datetime | None = None,
    is_reply: bool = False,
    created_at: datetime = NOW,
    history: Mapping[HistoryQuery, int] | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> EvaluationContext:
    return EvaluationContext(
        scores=dict(scores or {}),
        text=text,
        author_id=author_id,
        article=ArticleFacts(id="a1", section=section, tags=tags, published_at=published_at),
        is_reply=is_reply,
        created_at=created_at,
        history=dict(history or {}),
        evidence=dict(evidence or {}),
    )
