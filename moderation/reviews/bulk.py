"""Deciding many escalated comments at once: the page's selection, an author's open reviews.

Each comment goes through ``decide`` on its own (its claim, compare-and-set, decision row,
``review.decide`` audit row with the bulk's id, and its held webhook, in a transaction of its
own), so one comment taken meanwhile by another moderator is a ``conflict`` in the results,
never a failed batch. The webhooks are queued once, after the last commit; each decision can
be undone within the window like any other (the group is the list of its decision ids).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation import defaults, sites, webhooks
from moderation.db.models import Comment, Decision
from moderation.exceptions import ConflictError, NotFoundError
from moderation.reviews.leases import ESCALATED
from moderation.reviews.moderator_decisions import ModeratorAction, decide
from moderation.settings import Settings


class BulkOutcome(str, Enum):  # noqa: UP042 - a string enum, as the others
    DECIDED = "decided"
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class BulkResult:
    comment_id: str
    outcome: BulkOutcome
    decision: Decision | None = None
    message: str | None = None


def open_reviews_of_author(
    session: Session, author_id: str, *, limit: int = defaults.BULK_DECISION_LIMIT
) -> list[str]:
    """The author's comments waiting for a person (escalated), oldest first."""
    return list(
        session.scalars(
            select(Comment.id)
            .where(Comment.author_id == author_id, Comment.status == ESCALATED)
            .order_by(Comment.received_at, Comment.id)
            .limit(limit)
        )
    )


def decide_many(
    *,
    session: Session,
    conn: redis.Redis | None,
    settings: Settings,
    comment_ids: list[str],
    moderator: str,
    action: ModeratorAction,
    reason_code: str | None = None,
    reason_text: str | None = None,
    note: str | None = None,
) -> tuple[str, list[BulkResult]]:
    """Decide each of ``comment_ids`` (in order, each id once); the bulk's id and one result a
    comment. Commits each decision; queues the webhooks after the last."""
    bulk = f"bulk_{uuid.uuid4().hex[:12]}"
    results: list[BulkResult] = []
    for comment_id in dict.fromkeys(comment_ids):
        try:
            decision = decide(
                session=session,
                comment_id=comment_id,
                moderator=moderator,
                action=action,
                reason_code=reason_code,
                reason_text=reason_text,
                note=note,
                lease_seconds=settings.review_lease_seconds,
                webhook_url=sites.webhook_url(session, settings),
                webhook_hold_seconds=settings.moderator_webhook_hold,
                bulk=bulk,
            )
        except NotFoundError as exc:
            session.rollback()
            results.append(BulkResult(comment_id, BulkOutcome.NOT_FOUND, message=str(exc)))
            continue
        except ConflictError as exc:
            session.rollback()
            results.append(BulkResult(comment_id, BulkOutcome.CONFLICT, message=str(exc)))
            continue
        results.append(BulkResult(comment_id, BulkOutcome.DECIDED, decision=decision))
    # Escalated comments had their spans queued when they were escalated: nothing to add.
    webhooks.enqueue_recorded(session, conn=conn, settings=settings)
    return bulk, results
