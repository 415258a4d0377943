"""What the review queue returns: typed, read-only views of the rows behind a review.

The API and the /moderate page turn these into their response models
(``moderation.api.schemas``); nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moderation.db.models import Decision


@dataclass(frozen=True)
class Reason:
    rule: str
    message: str


@dataclass(frozen=True)
class ReviewArticle:
    id: str
    title: str | None
    url: str | None


@dataclass(frozen=True)
class Author:
    id: str
    name: str | None


@dataclass(frozen=True)
class ParentComment:
    """The comment a reviewed comment replies to."""

    id: str
    text: str
    author: Author
    status: str


@dataclass(frozen=True)
class RecentComment:
    id: str
    article_id: str
    text: str
    """The first 300 characters."""
    status: str
    created_at: datetime


@dataclass(frozen=True)
class AuthorHistory:
    """The author's other comments: counts by status and the latest few."""

    approved: int
    rejected: int
    escalated: int
    total: int
    recent: list[RecentComment]


@dataclass(frozen=True)
class ReviewAuthor:
    id: str
    name: str | None
    history: AuthorHistory


@dataclass(frozen=True)
class Lease:
    """A moderator's live claim on a review."""

    moderator: str
    claimed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class DecisionView:
    id: int
    comment_id: str
    action: str
    decided_by: str
    actor: str | None
    reasons: list[Reason]
    rules_version: str | None
    reason_code: str | None
    note: str | None
    decided_at: datetime


@dataclass(frozen=True)
class ReviewReports:
    """Readers' reports of the comment: every one received, by reason, and those made since
    its latest moderator decision (``moderation.reports.report_tallies``)."""

    total: int
    by_reason: dict[str, int]
    """Every reason, 0 included."""
    unreviewed: int


@dataclass(frozen=True)
class Review:
    """An escalated comment with everything a moderator needs to decide it."""

    comment_id: str
    status: str
    """``ReviewStatus``: open, claimed or done."""
    comment_status: str
    article: ReviewArticle
    text: str
    author: ReviewAuthor
    parent: ParentComment | None
    created_at: datetime
    escalated_at: datetime
    priority: int
    labels: list[str]
    rule: str | None
    rules_version: str | None
    reasons: list[Reason]
    scores: dict[str, float]
    evidence: dict[str, Any]
    claim: Lease | None
    decision: DecisionView | None
    reports: ReviewReports


@dataclass(frozen=True)
class ReviewPage:
    items: list[Review]
    next_cursor: str | None


@dataclass(frozen=True)
class QueueCounters:
    open: int
    claimed: int
    decided_today: int
    """Moderators' decisions since midnight UTC."""


@dataclass(frozen=True)
class QueuedArticle:
    """An article with escalated comments, for the page's filter."""

    id: str
    title: str
    escalated: int


def reasons_of(rows: list[Any] | None) -> list[Reason]:
    return [Reason(rule=r["rule"], message=r["message"]) for r in rows or []]


def decision_view(decision: Decision) -> DecisionView:
    return DecisionView(
        id=decision.id,
        comment_id=decision.comment_id,
        action=decision.action,
        decided_by=decision.decided_by,
        actor=decision.actor,
        reasons=reasons_of(decision.reasons),
        rules_version=decision.rules_version,
        reason_code=decision.reason_code,
        note=decision.note,
        decided_at=decision.decided_at,
    )
