"""Undoing a moderator's decision within the undo window (``MODERATION_UNDO_SECONDS``).

A moderator's decision's webhook is held for the window (``webhooks.record_event`` with
``hold_seconds``), so the publisher has heard nothing of it yet. Undoing it, in one
transaction: the held delivery is deleted first (``webhooks.cancel_held``, a compare-and-set
on "never attempted and not yet due"), the comment's status goes back to what the decision
before it said (a compare-and-set on the status the undone decision set), the decision row is
deleted, and a ``review.undo`` audit row keeps what it was. Only the moderator who decided,
only while the window is open, and only while that decision is still the comment's latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from moderation import audit, webhooks
from moderation.db.models import Article, Comment, DecidedBy, Decision, utcnow
from moderation.db.scoping import in_site
from moderation.decisions import STATUS_FOR_ACTION
from moderation.exceptions import ConflictError, NotFoundError
from moderation.policy import Action


@dataclass(frozen=True)
class Undone:
    comment_id: str
    decision_id: int
    """The decision that was undone (its row is gone)."""
    status: str
    """The comment's status again (``escalated``: back in the review queue)."""


class UndoRefusedError(ConflictError):
    """The decision cannot be undone (window closed, another's, decided since): 409."""


def undo_decision(
    *, session: Session, decision_id: int, moderator: str, window_seconds: float
) -> Undone:
    """Undo the moderator's decision ``decision_id``; commits."""
    decision = session.get(Decision, decision_id)
    if decision is None:
        raise NotFoundError("decision", str(decision_id))
    comment_id = decision.comment_id
    if decision.decided_by != DecidedBy.MODERATOR.value or decision.actor != moderator:
        who = decision.actor if decision.decided_by == DecidedBy.MODERATOR.value else "the rules"
        raise UndoRefusedError(
            f"decision {decision_id} on comment {comment_id!r} was made by {who}: "
            "only the moderator who made it can undo it"
        )
    now = utcnow()
    closes = decision.decided_at + timedelta(seconds=window_seconds)
    if now >= closes:
        raise UndoRefusedError(
            f"the undo window for decision {decision_id} on comment {comment_id!r} "
            f"({window_seconds:g} s) closed at {closes.isoformat()}; the publisher has been "
            "told. Decide it again instead: POST /v1/comments/{id}/decision"
        )
    # First, so the delivery's row is taken before anything else (see webhooks.cancel_held).
    cancelled, left = webhooks.cancel_held(session, decision.id, now=now)
    if left:
        session.rollback()
        raise UndoRefusedError(
            f"decision {decision_id} on comment {comment_id!r}: its webhook is on its way; "
            "it cannot be undone"
        )
    history = list(
        session.scalars(
            select(Decision)
            .where(Decision.comment_id == comment_id)
            .order_by(Decision.id.desc())
            .limit(2)
        )
    )
    if not history or history[0].id != decision.id:
        session.rollback()
        raise UndoRefusedError(
            f"comment {comment_id!r} was decided again after decision {decision_id}; "
            "only its latest decision can be undone"
        )
    if len(history) < 2:
        session.rollback()
        raise UndoRefusedError(f"comment {comment_id!r} has no earlier decision to go back to")
    previous = history[1]
    undone_status = STATUS_FOR_ACTION[Action(decision.action)].value
    restored = STATUS_FOR_ACTION[Action(previous.action)].value
    moved = session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.status == undone_status)
        .values(status=restored, decided_at=previous.decided_at)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise UndoRefusedError(f"comment {comment_id!r} changed meanwhile; nothing was undone")
    audit.record(
        session,
        actor=moderator,
        action="review.undo",
        subject_type="comment",
        subject_id=comment_id,
        from_state=undone_status,
        to_state=restored,
        detail={
            "decision_id": decision.id,
            "action": decision.action,
            "reason_code": decision.reason_code,
            "note": decision.note,
            "decided_at": decision.decided_at.isoformat(),
            "cancelled_deliveries": cancelled,
        },
    )
    undone = Undone(comment_id, decision.id, restored)
    session.delete(decision)
    session.commit()
    return undone


def undo_latest(
    *, session: Session, comment_id: str, moderator: str, window_seconds: float
) -> Undone:
    """``undo_decision`` for the comment's latest decision."""
    latest = session.scalar(
        select(Decision.id)
        .where(Decision.comment_id == comment_id)
        .order_by(Decision.id.desc())
        .limit(1)
    )
    if latest is None:
        if session.get(Comment, in_site(session, comment_id)) is None:
            raise NotFoundError("comment", comment_id)
        raise UndoRefusedError(f"comment {comment_id!r} has no decision to undo")
    return undo_decision(
        session=session, decision_id=latest, moderator=moderator, window_seconds=window_seconds
    )


# --- a moderator's recent decisions ------------------------------------------------------


@dataclass(frozen=True)
class RecentDecision:
    """One of a moderator's decisions, for "My recent decisions"."""

    decision_id: int
    comment_id: str
    action: str
    reason_code: str | None
    decided_at: datetime
    text: str
    """The comment's first ``RECENT_DECISION_TEXT_CHARS`` characters."""
    article_id: str
    article_title: str | None
    article_url: str | None
    undoable: bool
    """Still the comment's latest decision and inside the undo window (the server checks
    again when asked, and the held webhook decides the last word)."""


RECENT_DECISION_TEXT_CHARS = 200


def recent_decisions(
    session: Session,
    *,
    moderator: str,
    window_seconds: float,
    limit: int = 20,
    now: datetime | None = None,
) -> list[RecentDecision]:
    """The moderator's latest decisions, newest first, in one query."""
    now = now or utcnow()
    latest = (
        select(func.max(Decision.id))
        .where(Decision.comment_id == Comment.id)
        .correlate(Comment)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Decision,
            func.substr(Comment.text, 1, RECENT_DECISION_TEXT_CHARS),
            Comment.article_id,
            Article.title,
            Article.url,
            (Decision.id == latest).label("latest"),
        )
        .join(Comment, Comment.id == Decision.comment_id)
        .outerjoin(Article, Article.id == Comment.article_id)
        .where(Decision.decided_by == DecidedBy.MODERATOR.value, Decision.actor == moderator)
        .order_by(Decision.id.desc())
        .limit(limit)
    ).tuples()
    opens_after = now - timedelta(seconds=window_seconds)
    return [
        RecentDecision(
            decision_id=d.id,
            comment_id=d.comment_id,
            action=d.action,
            reason_code=d.reason_code,
            decided_at=d.decided_at,
            text=text,
            article_id=article_id,
            article_title=title,
            article_url=url,
            undoable=bool(is_latest) and d.decided_at > opens_after,
        )
        for d, text, article_id, title, url, is_latest in rows
    ]
