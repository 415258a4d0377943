"""Authors: the status moderators set on one (``trusted``, ``normal``, ``premoderated``,
``suspended`` until a time, ``banned``), their notes, and what the author page reads.

The rules read the status in effect (``status_in_effect``, in ``moderation.decisions``
beside the author's history, looked up by the caller as that is and passed in as
``EvaluationContext.author_status``): a suspension whose ``until`` has passed is
``normal``. A status change is one transaction: the ``authors`` row (taken with a row
lock), its audit row, the ``author.updated`` webhook in the outbox and,
with ``reject_pending``, a moderator's rejection of every pending or escalated comment of
the author (each with its audit row and ``comment.decided`` webhook, its open review ended).
Setting the status an author already has changes nothing and sends nothing, so a retry is
harmless; it still rejects what is pending then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import redis
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderation import audit, reasons, sites, webhooks
from moderation.db.models import (
    Article,
    AuditEntry,
    Author,
    AuthorNote,
    Comment,
    CommentStatus,
    DecidedBy,
    Decision,
    ReviewClaim,
    utcnow,
)
from moderation.db.scoping import in_site
from moderation.decisions import author_statuses, record_decision, status_in_effect
from moderation.exceptions import NotFoundError
from moderation.policy import Action
from moderation.policy.context import AuthorStatus
from moderation.settings import Settings

__all__ = [
    "REJECTABLE",
    "AuthorView",
    "StatusChange",
    "StatusResult",
    "add_note",
    "apply_status",
    "read_author",
    "author_statuses",
    "status_in_effect",
]

REJECTABLE = (CommentStatus.PENDING.value, CommentStatus.ESCALATED.value)
"""What ``reject_pending`` rejects: comments no decision has published or refused yet."""

AUDIT_SUBJECT = "author"


# --- setting the status ------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    """What a moderator asks for (checked by the API schema: ``until`` only with, and
    required for, ``suspended``; ``reject_pending`` only with ``suspended``/``banned``)."""

    status: AuthorStatus
    until: datetime | None = None
    reason: str | None = None
    reason_code: str | None = None
    reject_pending: bool = False


@dataclass(frozen=True)
class StatusResult:
    author: Author
    previous_status: str
    """The status in effect before the change."""
    changed: bool
    rejected: list[str] = field(default_factory=list)
    """The comments rejected with the change (``reject_pending``), oldest first."""


def apply_status(
    *,
    session: Session,
    conn: redis.Redis | None,
    settings: Settings,
    author_id: str,
    change: StatusChange,
    moderator: str,
) -> StatusResult:
    """Set the author's status as the API takes it; commits, then queues the webhooks."""
    result = set_status(
        session=session,
        author_id=author_id,
        change=change,
        moderator=moderator,
        webhook_url=sites.webhook_url(session, settings),
    )
    session.commit()
    webhooks.enqueue_recorded(session, conn=conn, settings=settings)
    return result


def set_status(
    *,
    session: Session,
    author_id: str,
    change: StatusChange,
    moderator: str,
    webhook_url: str | None,
) -> StatusResult:
    """The change in the session's transaction (the caller commits)."""
    now = utcnow()
    author = _locked_author(session, author_id)
    previous = status_in_effect(author, now)
    status = change.status.value
    until = change.until if change.status is AuthorStatus.SUSPENDED else None
    same = previous == status and (author.suspended_until == until if until else True)
    rejected = (
        _reject_pending(session, author_id, change, moderator, webhook_url)
        if change.reject_pending
        else []
    )
    if not same:
        author.status = status
        author.suspended_until = until
        author.status_reason = change.reason
        author.status_reason_code = change.reason_code
        author.status_set_by = moderator
        author.status_set_at = now
        audit.record(
            session,
            actor=moderator,
            action="author.status",
            subject_type=AUDIT_SUBJECT,
            subject_id=author_id,
            from_state=previous,
            to_state=status,
            detail={
                "until": _timestamp(until),
                "reason": change.reason,
                "reason_code": change.reason_code,
                "rejected": rejected,
            },
        )
        if webhook_url:
            webhooks.record_author_event(
                session, author, previous_status=previous, rejected=rejected, url=webhook_url
            )
    elif rejected:
        audit.record(
            session,
            actor=moderator,
            action="author.reject_pending",
            subject_type=AUDIT_SUBJECT,
            subject_id=author_id,
            from_state=previous,
            to_state=status,
            detail={"reason": change.reason, "reason_code": change.reason_code,
                    "rejected": rejected},
        )  # fmt: skip
    session.flush()
    return StatusResult(author, previous, not same, rejected)


def _locked_author(session: Session, author_id: str) -> Author:
    """The author's row, locked for the change (created ``normal`` the first time)."""
    author = session.get(
        Author, in_site(session, author_id), with_for_update=True, populate_existing=True
    )
    if author is not None:
        return author
    try:
        with session.begin_nested():
            session.add(Author(id=author_id, status=AuthorStatus.NORMAL.value, created_at=utcnow()))
    except IntegrityError:
        pass  # created meanwhile by another change: take that one
    author = session.get(
        Author, in_site(session, author_id), with_for_update=True, populate_existing=True
    )
    assert author is not None
    return author


def _reject_pending(
    session: Session,
    author_id: str,
    change: StatusChange,
    moderator: str,
    webhook_url: str | None,
) -> list[str]:
    """A moderator's rejection of each of the author's comments not decided yet; each is a
    compare-and-set on its status, so one the rules decide meanwhile keeps that decision."""
    reason_code = change.reason_code or reasons.FALLBACK
    comments = list(
        session.scalars(
            select(Comment)
            .where(Comment.author_id == author_id, Comment.status.in_(REJECTABLE))
            .order_by(Comment.created_at, Comment.id)
        )
    )
    latest = _latest_decisions(session, [c.id for c in comments])
    message = f"rejected by moderator {moderator} ({reason_code}): author {change.status.value}"
    rejected = []
    for comment in comments:
        was = comment.status
        previous = latest.get(comment.id)
        decision = record_decision(
            session=session,
            comment=comment,
            action=Action.REJECT,
            decided_by=DecidedBy.MODERATOR,
            reasons=[{"rule": "moderator", "message": message}],
            rules_version=previous.rules_version if previous else None,
            actor=moderator,
            rule="moderator",
            reason_code=reason_code,
            note=change.reason,
            only_if_status=was,
            webhook_url=webhook_url,
        )
        if decision is None:
            continue
        rejected.append(comment.id)
        if was == CommentStatus.ESCALATED.value:
            # The review ends as a moderator's decision ends it, whoever held it.
            session.execute(
                delete(ReviewClaim)
                .where(ReviewClaim.comment_id == comment.id)
                .execution_options(synchronize_session=False)
            )
            audit.record(
                session,
                actor=moderator,
                action="review.decide",
                subject_type="comment",
                subject_id=comment.id,
                from_state="open",
                to_state="done",
                detail={"action": Action.REJECT.value, "reason_code": reason_code,
                        "note": change.reason, "author_status": change.status.value},
            )  # fmt: skip
    return rejected


def _latest_decisions(session: Session, comment_ids: Sequence[str]) -> dict[str, Decision]:
    if not comment_ids:
        return {}
    newest = (
        select(func.max(Decision.id))
        .where(Decision.comment_id.in_(list(comment_ids)))
        .group_by(Decision.comment_id)
    )
    return {
        d.comment_id: d for d in session.scalars(select(Decision).where(Decision.id.in_(newest)))
    }


def _timestamp(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


# --- notes -------------------------------------------------------------------------------


def add_note(*, session: Session, author_id: str, moderator: str, text: str) -> AuthorNote:
    """A moderator's note on the author, with its audit row; commits."""
    note = AuthorNote(author_id=author_id, moderator=moderator, text=text, created_at=utcnow())
    session.add(note)
    session.flush()
    audit.record(
        session,
        actor=moderator,
        action="author.note",
        subject_type=AUDIT_SUBJECT,
        subject_id=author_id,
        detail={"note_id": note.id},
    )
    session.commit()
    return note


# --- the author page ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorComment:
    comment: Comment
    article_title: str
    decision: Decision | None
    """The latest decision; ``None`` while pending."""


@dataclass(frozen=True)
class AuthorView:
    author_id: str
    author: Author | None
    status: str
    """In effect now."""
    counts: dict[str, int]
    """Comments by status (every status, 0 included) and ``total``."""
    comments: list[AuthorComment]
    notes: list[AuthorNote]
    status_changes: list[AuditEntry]


def read_author(
    session: Session,
    author_id: str,
    *,
    comments_limit: int = 20,
    notes_limit: int = 100,
    changes_limit: int = 20,
) -> AuthorView:
    """What the author page shows, in six queries whatever the limits: the row, the counts
    (one GROUP BY), the latest comments with their articles, their latest decisions, the
    notes and the status changes (newest first). An author the service knows nothing of
    (no row, no comment, no note) is ``NotFoundError``."""
    now = utcnow()
    author = session.get(Author, in_site(session, author_id))
    counts = {s.value: 0 for s in CommentStatus}
    for status, n in session.execute(
        select(Comment.status, func.count(Comment.id))
        .where(Comment.author_id == author_id)
        .group_by(Comment.status)
    ).tuples():
        counts[status] = int(n)
    counts["total"] = sum(counts.values())
    rows = session.execute(
        select(Comment, Article.title)
        .join(Article, Article.id == Comment.article_id)
        .where(Comment.author_id == author_id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(comments_limit)
    ).tuples()
    found = [(c, title) for c, title in rows]
    latest = _latest_decisions(session, [c.id for c, _ in found])
    notes = list(
        session.scalars(
            select(AuthorNote)
            .where(AuthorNote.author_id == author_id)
            .order_by(AuthorNote.created_at.desc(), AuthorNote.id.desc())
            .limit(notes_limit)
        )
    )
    if author is None and not counts["total"] and not notes:
        raise NotFoundError("author", author_id)
    changes = list(
        session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.subject_type == AUDIT_SUBJECT,
                AuditEntry.subject_id == author_id,
                AuditEntry.action == "author.status",
            )
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(changes_limit)
        )
    )
    return AuthorView(
        author_id=author_id,
        author=author,
        status=status_in_effect(author, now),
        counts=counts,
        comments=[AuthorComment(c, title, latest.get(c.id)) for c, title in found],
        notes=notes,
        status_changes=changes,
    )
