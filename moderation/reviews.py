"""Reviews: the queue of escalated comments, moderators' leases on them, and their decisions.

A claim is a lease (``MODERATION_REVIEW_LEASE_SECONDS``) held in ``review_claims``; taking
or renewing it is a compare-and-set, so two moderators never hold one comment. An expired
lease returns the comment to the open queue. Deciding ends the review (the claim row goes)
and, through ``record_decision``, writes the publisher's webhook in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, selectinload

from moderation import audit
from moderation.db.models import (
    Article,
    Comment,
    CommentStatus,
    DecidedBy,
    Decision,
    ReviewClaim,
    ReviewStatus,
    Score,
    utcnow,
)
from moderation.decisions import record_decision
from moderation.exceptions import AlreadyDecidedError, ClaimedError, ConflictError, NotFoundError

RECENT_COMMENTS = 5
"""How many of the author's earlier comments a review shows."""

ESCALATED = CommentStatus.ESCALATED.value
FINAL = (CommentStatus.APPROVED.value, CommentStatus.REJECTED.value)


class Sort(str, Enum):
    PRIORITY = "priority"
    OLDEST = "oldest"
    TOXICITY = "toxicity"


class ModeratorAction(str, Enum):
    APPROVE = "approve"
    REJECT = "reject"


class InvalidCursorError(ValueError):
    pass


# --- claims ------------------------------------------------------------------------------


def _escalated_comment(session: Session, comment_id: str) -> Comment:
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
        _escalated_comment(session, comment_id)
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
            return session.get_one(ReviewClaim, comment_id)
        if current.moderator != moderator and current.expires_at > now:
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
        return session.get_one(ReviewClaim, comment_id, populate_existing=True)
    raise ConflictError(f"comment {comment_id!r} is being claimed by others; try again")


def release(*, session: Session, comment_id: str, moderator: str) -> None:
    """Give a claim back to the queue; only its holder may (an expired one is gone anyway)."""
    _escalated_comment(session, comment_id)
    current = session.get(ReviewClaim, comment_id)
    now = utcnow()
    if current is None or current.expires_at <= now:
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


# --- decisions ---------------------------------------------------------------------------


def _moderator_reasons(
    moderator: str, action: str, reason_code: str | None, note: str | None
) -> list[dict[str, str]]:
    message = f"{action}d by moderator {moderator}"
    if reason_code:
        message += f" ({reason_code})"
    return [{"rule": "moderator", "message": message}]


def decide(
    *,
    session: Session,
    comment_id: str,
    moderator: str,
    action: ModeratorAction,
    reason_code: str | None = None,
    note: str | None = None,
    lease_seconds: float,
    webhook_url: str | None = None,
) -> Decision:
    """A moderator's decision on an escalated comment: claims it if nobody holds it,
    records the decision, ends the review; commits."""
    claim(session=session, comment_id=comment_id, moderator=moderator, lease_seconds=lease_seconds)
    comment = _escalated_comment(session, comment_id)
    escalation = comment.decisions[-1] if comment.decisions else None
    decision = _record_moderator_decision(
        session,
        comment,
        moderator=moderator,
        action=action,
        reason_code=reason_code,
        note=note,
        previous=escalation,
        only_if_status=ESCALATED,
        webhook_url=webhook_url,
    )
    if decision is None:
        session.rollback()
        _escalated_comment(session, comment_id)  # raises AlreadyDecidedError
        raise ConflictError(f"comment {comment_id!r} changed while deciding; try again")
    session.execute(
        delete(ReviewClaim)
        .where(ReviewClaim.comment_id == comment_id)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor=moderator,
        action="review.decide",
        subject_type="comment",
        subject_id=comment_id,
        from_state="claimed",
        to_state="done",
        detail={"action": action.value, "reason_code": reason_code, "note": note},
    )
    session.commit()
    return decision


def overturn(
    *,
    session: Session,
    comment_id: str,
    moderator: str,
    action: ModeratorAction,
    reason_code: str | None = None,
    note: str | None = None,
    lease_seconds: float,
    webhook_url: str | None = None,
) -> Decision:
    """A moderator's decision on any decided comment: an escalated one goes through
    ``decide``; an automatic approve/reject is overturned; commits."""
    comment = session.scalar(
        select(Comment).where(Comment.id == comment_id).options(selectinload(Comment.decisions))
    )
    if comment is None:
        raise NotFoundError("comment", comment_id)
    if comment.status == ESCALATED:
        return decide(
            session=session,
            comment_id=comment_id,
            moderator=moderator,
            action=action,
            reason_code=reason_code,
            note=note,
            lease_seconds=lease_seconds,
            webhook_url=webhook_url,
        )
    if comment.status not in FINAL:
        raise ConflictError(f"comment {comment_id!r} is {comment.status}: it has no decision yet")
    latest = comment.decisions[-1] if comment.decisions else None
    if _status_of(action) == comment.status:
        raise AlreadyDecidedError(
            f"comment {comment_id!r} is {comment.status} already", decision=latest
        )
    from_status = comment.status
    decision = _record_moderator_decision(
        session,
        comment,
        moderator=moderator,
        action=action,
        reason_code=reason_code,
        note=note,
        previous=latest,
        only_if_status=from_status,
        webhook_url=webhook_url,
    )
    if decision is None:
        session.rollback()
        raise ConflictError(f"comment {comment_id!r} changed while deciding; try again")
    audit.record(
        session,
        actor=moderator,
        action="comment.overturn",
        subject_type="comment",
        subject_id=comment_id,
        from_state=from_status,
        to_state=comment.status,
        detail={
            "overturned_decided_by": latest.decided_by if latest else None,
            "overturned_rule": latest.rule if latest else None,
            "reason_code": reason_code,
            "note": note,
        },
    )
    session.commit()
    return decision


def _status_of(action: ModeratorAction) -> str:
    if action is ModeratorAction.APPROVE:
        return CommentStatus.APPROVED.value
    return CommentStatus.REJECTED.value


# --- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(sort: Sort, key: Sequence[Any]) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps({"s": sort.value, "k": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        values = list(data["k"])
        if data["s"] != sort.value:
            raise InvalidCursorError(
                f"the cursor belongs to sort={data['s']}, not sort={sort.value}"
            )
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, InvalidCursorError):
            raise
        raise InvalidCursorError("the cursor is not one this server gave out") from None
    kinds = _sort_kinds(sort)
    if len(values) != len(kinds):
        raise InvalidCursorError("the cursor is not one this server gave out")
    out: list[Any] = []
    for kind, value in zip(kinds, values, strict=True):
        try:
            if kind == "datetime":
                out.append(datetime.fromisoformat(value))
            elif kind == "number":
                out.append(float(value))
            else:
                out.append(str(value))
        except (TypeError, ValueError):
            raise InvalidCursorError("the cursor is not one this server gave out") from None
    return out


def _sort_kinds(sort: Sort) -> list[str]:
    return {
        Sort.PRIORITY: ["number", "datetime", "str"],
        Sort.OLDEST: ["datetime", "str"],
        Sort.TOXICITY: ["number", "datetime", "str"],
    }[sort]


def list_reviews(
    session: Session,
    *,
    status: ReviewStatus = ReviewStatus.OPEN,
    sort: Sort = Sort.PRIORITY,
    article_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> ReviewPage:
    """Escalated comments, a page at a time; the cursor is a keyset, so new escalations
    never shift or repeat the pages after it."""
    now = now or utcnow()
    latest_escalation = (
        select(Decision.comment_id, func.max(Decision.id).label("decision_id"))
        .where(Decision.action == "escalate")
        .group_by(Decision.comment_id)
        .subquery()
    )
    esc = aliased(Decision)
    tox = aliased(Score)
    toxicity = func.coalesce(tox.value, -1.0)
    stmt = (
        select(Comment, esc, ReviewClaim, toxicity)
        .join(latest_escalation, latest_escalation.c.comment_id == Comment.id)
        .join(esc, esc.id == latest_escalation.c.decision_id)
        .outerjoin(ReviewClaim, ReviewClaim.comment_id == Comment.id)
        .outerjoin(tox, and_(tox.comment_id == Comment.id, tox.name == "toxicity"))
    )
    if status is ReviewStatus.OPEN:
        stmt = stmt.where(
            Comment.status == ESCALATED,
            or_(ReviewClaim.comment_id.is_(None), ReviewClaim.expires_at <= now),
        )
    elif status is ReviewStatus.CLAIMED:
        stmt = stmt.where(Comment.status == ESCALATED, ReviewClaim.expires_at > now)
    else:
        stmt = stmt.where(Comment.status.in_(FINAL))
    if article_id is not None:
        stmt = stmt.where(Comment.article_id == article_id)
    columns: list[tuple[Any, bool]]  # (column expression, descending)
    if sort is Sort.PRIORITY:
        columns = [(esc.priority, True), (esc.decided_at, False), (Comment.id, False)]
    elif sort is Sort.OLDEST:
        columns = [(esc.decided_at, False), (Comment.id, False)]
    else:
        columns = [(toxicity, True), (esc.decided_at, False), (Comment.id, False)]
    if cursor:
        key = decode_cursor(cursor, sort)
        stmt = stmt.where(_after(columns, key))
    stmt = stmt.order_by(*[c.desc() if d else c.asc() for c, d in columns]).limit(limit + 1)
    rows = session.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_review_view(session, c, e, rc, now) for c, e, rc, _ in rows]
    next_cursor = None
    if more and rows:
        c, e, _, t = rows[-1]
        key_values = {
            Sort.PRIORITY: [e.priority, e.decided_at, c.id],
            Sort.OLDEST: [e.decided_at, c.id],
            Sort.TOXICITY: [float(t), e.decided_at, c.id],
        }[sort]
        next_cursor = encode_cursor(sort, key_values)
    return ReviewPage(items, next_cursor)


def _after(columns: list[tuple[Any, bool]], key: list[Any]) -> ColumnElement[bool]:
    ors = []
    for i, (column, descending) in enumerate(columns):
        equal = [c == v for (c, _), v in zip(columns[:i], key[:i], strict=True)]
        beyond = column < key[i] if descending else column > key[i]
        ors.append(and_(*equal, beyond))
    return or_(*ors)


def _review_view(
    session: Session,
    comment: Comment,
    escalation: Decision,
    claim_row: ReviewClaim | None,
    now: datetime,
) -> dict[str, Any]:
    article = session.get(Article, comment.article_id)
    scores = session.scalars(select(Score).where(Score.comment_id == comment.id)).all()
    live_claim = claim_row if claim_row is not None and claim_row.expires_at > now else None
    if comment.status in FINAL:
        review_status = ReviewStatus.DONE.value
    elif live_claim is not None:
        review_status = ReviewStatus.CLAIMED.value
    else:
        review_status = ReviewStatus.OPEN.value
    parent = None
    if comment.parent_id:
        p = session.get(Comment, comment.parent_id)
        if p is not None:
            parent = {
                "id": p.id,
                "text": p.text,
                "author": {"id": p.author_id, "name": p.author_name},
                "status": p.status,
            }
    decision = None
    if comment.status in FINAL:
        latest = session.scalar(
            select(Decision)
            .where(Decision.comment_id == comment.id)
            .order_by(Decision.id.desc())
            .limit(1)
        )
        if latest is not None:
            decision = decision_view(latest)
    return {
        "comment_id": comment.id,
        "status": review_status,
        "comment_status": comment.status,
        "article": {
            "id": comment.article_id,
            "title": article.title if article else None,
            "url": article.url if article else None,
        },
        "text": comment.text,
        "author": {
            "id": comment.author_id,
            "name": comment.author_name,
            "history": author_summary(
                session, author_id=comment.author_id, exclude_comment_id=comment.id
            ),
        },
        "parent": parent,
        "created_at": comment.created_at,
        "escalated_at": escalation.decided_at,
        "priority": escalation.priority,
        "labels": list(escalation.labels or []),
        "rule": escalation.rule,
        "rules_version": escalation.rules_version,
        "reasons": [{"rule": r["rule"], "message": r["message"]} for r in escalation.reasons or []],
        "scores": {s.name: s.value for s in scores},
        "evidence": {s.name: s.evidence for s in scores if s.evidence},
        "claim": None
        if live_claim is None
        else {
            "moderator": live_claim.moderator,
            "claimed_at": live_claim.claimed_at,
            "expires_at": live_claim.expires_at,
        },
        "decision": decision,
    }


def decision_view(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.id,
        "comment_id": decision.comment_id,
        "action": decision.action,
        "decided_by": decision.decided_by,
        "actor": decision.actor,
        "reasons": list(decision.reasons or []),
        "rules_version": decision.rules_version,
        "reason_code": decision.reason_code,
        "note": decision.note,
        "decided_at": decision.decided_at,
    }


def author_summary(session: Session, *, author_id: str, exclude_comment_id: str) -> dict[str, Any]:
    """Counts of the author's other comments by status and the latest few."""
    counts = dict(
        session.execute(
            select(Comment.status, func.count(Comment.id))
            .where(Comment.author_id == author_id, Comment.id != exclude_comment_id)
            .group_by(Comment.status)
        )
        .tuples()
        .all()
    )
    recent = session.scalars(
        select(Comment)
        .where(Comment.author_id == author_id, Comment.id != exclude_comment_id)
        .order_by(Comment.created_at.desc(), Comment.id)
        .limit(RECENT_COMMENTS)
    ).all()
    return {
        "approved": int(counts.get(CommentStatus.APPROVED.value, 0)),
        "rejected": int(counts.get(CommentStatus.REJECTED.value, 0)),
        "escalated": int(counts.get(CommentStatus.ESCALATED.value, 0)),
        "total": int(sum(counts.values())),
        "recent": [
            {
                "id": c.id,
                "article_id": c.article_id,
                "text": c.text[:300],
                "status": c.status,
                "created_at": c.created_at,
            }
            for c in recent
        ],
    }


def counters(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Open and claimed reviews now, and moderator decisions since midnight UTC."""
    now = now or utcnow()
    live = select(ReviewClaim.comment_id).where(ReviewClaim.expires_at > now)
    escalated = int(
        session.scalar(select(func.count(Comment.id)).where(Comment.status == ESCALATED)) or 0
    )
    claimed = int(
        session.scalar(
            select(func.count(Comment.id)).where(
                Comment.status == ESCALATED, Comment.id.in_(live.scalar_subquery())
            )
        )
        or 0
    )
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    decided_today = int(
        session.scalar(
            select(func.count(Decision.id)).where(
                Decision.decided_by == DecidedBy.MODERATOR.value, Decision.decided_at >= midnight
            )
        )
        or 0
    )
    return {"open": escalated - claimed, "claimed": claimed, "decided_today": decided_today}


def articles_in_queue(session: Session) -> list[dict[str, Any]]:
    """Articles with escalated comments, for the page's filter."""
    rows = session.execute(
        select(Article.id, Article.title, func.count(Comment.id))
        .join(Comment, Comment.article_id == Article.id)
        .where(Comment.status == ESCALATED)
        .group_by(Article.id, Article.title)
        .order_by(func.count(Comment.id).desc(), Article.id)
        .limit(200)
    ).all()
    return [{"id": a, "title": t, "escalated": n} for a, t, n in rows]


def _record_moderator_decision(
    session: Session,
    comment: Comment,
    *,
    moderator: str,
    action: ModeratorAction,
    reason_code: str | None,
    note: str | None,
    previous: Decision | None,
    only_if_status: str,
    webhook_url: str | None,
) -> Decision | None:
    """A moderator's decision row; it keeps the rules version of the decision it follows."""
    return record_decision(
        session=session,
        comment=comment,
        action=action.value,
        decided_by=DecidedBy.MODERATOR,
        reasons=_moderator_reasons(moderator, action.value, reason_code, note),
        rules_version=previous.rules_version if previous else None,
        actor=moderator,
        rule="moderator",
        reason_code=reason_code,
        note=note,
        only_if_status=only_if_status,
        webhook_url=webhook_url,
    )
