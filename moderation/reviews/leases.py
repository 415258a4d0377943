"""Leases: a moderator's claim on an escalated comment, for a while.

A claim is a ``review_claims`` row with an expiry (``MODERATION_REVIEW_LEASE_SECONDS``);
taking or renewing it is a compare-and-set (insert, or update where it is yours or
expired), so two moderators never hold one comment. An expired lease returns the comment
to the open queue: the queue ignores it, and the next claim replaces it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from moderation import audit
from moderation.db.models import Comment, CommentStatus, ReviewClaim, utcnow
from moderation.db.scoping import in_site
from moderation.exceptions import AlreadyDecidedError, ClaimedError, ConflictError, NotFoundError

ESCALATED = CommentStatus.ESCALATED.value
FINAL = (CommentStatus.APPROVED.value, CommentStatus.REJECTED.value)


def is_live(claim: ReviewClaim | None, now: datetime) -> bool:
    """Whether a claim row still holds its comment (an expired one is simply ignored)."""
    return claim is not None and claim.expires_at > now


def escalated_comment(session: Session, comment_id: str) -> Comment:
    """The comment, fresh from the database, if it is waiting for review (with its
    decisions); ``NotFoundError``, ``AlreadyDecidedError`` or ``ConflictError`` if not."""
    comment = session.scalar(
        select(Comment)
        .where(Comment.id == comment_id)
        .options(selectinload(Comment.decisions))
        .execution_options(populate_existing=True)
    )
    if comment is None:
        raise NotFoundError("comment", comment_id)
    if comment.status == ESCALATED:
        return comment
    if comment.status in FINAL:
        latest = comment.decisions[-1] if comment.decisions else None
        raise AlreadyDecidedError(
            f"comment {comment_id!r} has been decided already ({comment.status})",
            decision=latest,
        )
    raise ConflictError(f"comment {comment_id!r} is {comment.status}, not waiting for review")


def claim(
    *, session: Session, comment_id: str, moderator: str, lease_seconds: float
) -> ReviewClaim:
    """Take (or renew) the lease on an escalated comment; commits.

    Raises ``ClaimedError`` when another moderator holds a live lease.
    """
    for _ in range(3):
        escalated_comment(session, comment_id)
        now = utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        current = session.scalar(
            select(ReviewClaim)
            .where(ReviewClaim.comment_id == comment_id)
            .execution_options(populate_existing=True)
        )
        if current is None:
            session.add(
                ReviewClaim(
                    comment_id=comment_id, moderator=moderator, claimed_at=now, expires_at=expires
                )
            )
            try:
                session.flush()
            except IntegrityError:  # another moderator claimed it a moment ago
                session.rollback()
                continue
            _audit(session, moderator, "review.claim", comment_id, "open", "claimed", expires)
            session.commit()
            return session.get_one(ReviewClaim, in_site(session, comment_id))
        if current.moderator != moderator and is_live(current, now):
            session.rollback()
            raise ClaimedError(
                f"comment {comment_id!r} is claimed by {current.moderator} until "
                f"{current.expires_at.isoformat()}",
                holder=current.moderator,
                expires_at=current.expires_at,
            )
        previous, previous_expiry = current.moderator, current.expires_at
        result = session.execute(
            update(ReviewClaim)
            .where(
                ReviewClaim.comment_id == comment_id,
                or_(ReviewClaim.moderator == moderator, ReviewClaim.expires_at <= now),
            )
            .values(moderator=moderator, claimed_at=now, expires_at=expires)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            continue
        if previous == moderator:
            _audit(session, moderator, "review.renew", comment_id, "claimed", "claimed", expires)
        else:
            audit.record(
                session,
                actor="system",
                action="review.expire",
                subject_type="comment",
                subject_id=comment_id,
                from_state="claimed",
                to_state="open",
                detail={"holder": previous, "expired_at": previous_expiry.isoformat()},
            )
            _audit(session, moderator, "review.claim", comment_id, "open", "claimed", expires)
        session.commit()
        return session.get_one(ReviewClaim, in_site(session, comment_id), populate_existing=True)
    raise ConflictError(f"comment {comment_id!r} is being claimed by others; try again")


def release(*, session: Session, comment_id: str, moderator: str) -> None:
    """Give a claim back to the queue; only its holder may (an expired one is gone anyway)."""
    escalated_comment(session, comment_id)
    current = session.get(ReviewClaim, in_site(session, comment_id))
    now = utcnow()
    if current is None or not is_live(current, now):
        session.rollback()
        return
    if current.moderator != moderator:
        session.rollback()
        raise ClaimedError(
            f"comment {comment_id!r} is claimed by {current.moderator}, not you",
            holder=current.moderator,
            expires_at=current.expires_at,
        )
    session.delete(current)
    _audit(session, moderator, "review.release", comment_id, "claimed", "open", None)
    session.commit()


def _audit(
    session: Session,
    actor: str,
    action: str,
    comment_id: str,
    from_state: str,
    to_state: str,
    expires: datetime | None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_type="comment",
        subject_id=comment_id,
        from_state=from_state,
        to_state=to_state,
        detail={"expires_at": expires.isoformat()} if expires else None,
    )
