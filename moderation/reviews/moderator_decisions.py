"""Moderators' decisions: deciding an escalated comment (ends its review) and overturning
an automatic approve or reject.

Both write through ``record_decision`` with a compare-and-set on the comment's status, so
deciding twice is ``AlreadyDecidedError`` (409), never two decisions, and the publisher's
webhook is added to the decision's transaction. ``apply_moderator_decision`` is what every
route calls: decide or overturn, commit, then queue the webhook.
"""

from __future__ import annotations

from enum import Enum

import redis
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from moderation import audit, reasons, sites, webhooks
from moderation.db.models import (
    Comment,
    DecidedBy,
    Decision,
    ReviewClaim,
    Score,
)
from moderation.db.scoping import current_site
from moderation.decisions import STATUS_FOR_ACTION, record_decision
from moderation.exceptions import AlreadyDecidedError, ConflictError, NotFoundError
from moderation.policy import Action
from moderation.queue import enqueue_explain, read_by_people
from moderation.reviews.leases import ESCALATED, FINAL, claim, escalated_comment
from moderation.scoring import spans_pending
from moderation.settings import Settings


class ModeratorAction(str, Enum):  # noqa: UP042 - the actions a moderator may take
    APPROVE = Action.APPROVE.value
    REJECT = Action.REJECT.value


_PAST_TENSE = {ModeratorAction.APPROVE: "approved", ModeratorAction.REJECT: "rejected"}


def apply_moderator_decision(
    *,
    session: Session,
    conn: redis.Redis | None,
    settings: Settings,
    comment_id: str,
    moderator: str,
    action: ModeratorAction,
    reason_code: str | None = None,
    reason_text: str | None = None,
    note: str | None = None,
    overturning: bool = False,
) -> Decision:
    """A moderator's decision as the API and the page take it; commits, then queues the
    publisher's webhook. ``overturning`` also accepts a comment the rules approved or
    rejected (``overturn``); without it the comment must be waiting for review (``decide``).

    A rejection stores a reason code (``moderation.reasons``): ``reason_code``, else the
    code the rules suggested for the escalation, else ``reasons.FALLBACK``; ``reason_text``
    replaces the code's text for the commenter. Codes are checked by the caller
    (``reasons.check_code``); an approval's ``reason_code`` is kept as given.
    """
    take = overturn if overturning else decide
    decision = take(
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
    )
    webhooks.enqueue_recorded(session, conn=conn, settings=settings)
    if read_by_people(decision.action):
        # An approved comment overturned to a rejection: its spans were never queued.
        evidence = session.scalars(select(Score.evidence).where(Score.comment_id == comment_id))
        if any(spans_pending(e) for e in evidence):
            enqueue_explain(
                conn=conn, settings=settings, site=current_site(session), comment_ids=[comment_id]
            )
    return decision


def decide(
    *,
    session: Session,
    comment_id: str,
    moderator: str,
    action: ModeratorAction,
    reason_code: str | None = None,
    reason_text: str | None = None,
    note: str | None = None,
    lease_seconds: float,
    webhook_url: str | None = None,
    webhook_hold_seconds: float = 0.0,
    bulk: str | None = None,
) -> Decision:
    """A moderator's decision on an escalated comment: claims it if nobody holds it,
    records the decision, ends the review; commits."""
    claim(session=session, comment_id=comment_id, moderator=moderator, lease_seconds=lease_seconds)
    comment = escalated_comment(session, comment_id)
    escalation = comment.decisions[-1] if comment.decisions else None
    decision = _record_moderator_decision(
        session,
        comment,
        moderator=moderator,
        action=action,
        reason_code=reason_code,
        reason_text=reason_text,
        note=note,
        previous=escalation,
        only_if_status=ESCALATED,
        webhook_url=webhook_url,
        webhook_hold_seconds=webhook_hold_seconds,
    )
    if decision is None:
        session.rollback()
        escalated_comment(session, comment_id)  # raises AlreadyDecidedError
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
        detail={"action": action.value, "reason_code": reason_code, "note": note}
        | ({"bulk": bulk} if bulk else {}),
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
    reason_text: str | None = None,
    note: str | None = None,
    lease_seconds: float,
    webhook_url: str | None = None,
    webhook_hold_seconds: float = 0.0,
    bulk: str | None = None,
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
            reason_text=reason_text,
            note=note,
            lease_seconds=lease_seconds,
            webhook_url=webhook_url,
            webhook_hold_seconds=webhook_hold_seconds,
            bulk=bulk,
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
        reason_text=reason_text,
        note=note,
        previous=latest,
        only_if_status=from_status,
        webhook_url=webhook_url,
        webhook_hold_seconds=webhook_hold_seconds,
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
    return STATUS_FOR_ACTION[Action(action.value)].value


def _moderator_reasons(
    moderator: str, action: ModeratorAction, reason_code: str | None, reason_text: str | None
) -> list[dict[str, str]]:
    message = f"{_PAST_TENSE[action]} by moderator {moderator}"
    if reason_code:
        message += f" ({reason_code})"
    out = [{"rule": "moderator", "message": message}]
    if reason_text and ModeratorAction(action) is ModeratorAction.REJECT:
        out.append({"rule": reasons.REASON_TEXT_RULE, "message": reason_text})
    return out


def _reason_code(
    action: ModeratorAction, reason_code: str | None, previous: Decision | None
) -> str | None:
    """A rejection's code: the moderator's, else the one the rules suggested when they
    escalated (an escalating rule's ``reason``), else ``reasons.FALLBACK``."""
    if ModeratorAction(action) is not ModeratorAction.REJECT or reason_code:
        return reason_code
    if previous is not None and previous.action == Action.ESCALATE.value and previous.reason_code:
        return previous.reason_code
    return reasons.FALLBACK


def _record_moderator_decision(
    session: Session,
    comment: Comment,
    *,
    moderator: str,
    action: ModeratorAction,
    reason_code: str | None,
    reason_text: str | None,
    note: str | None,
    previous: Decision | None,
    only_if_status: str,
    webhook_url: str | None,
    webhook_hold_seconds: float = 0.0,
) -> Decision | None:
    """The decision row both ``decide`` and ``overturn`` write; it keeps the rules version
    of the decision it follows. ``None`` when the comment's status moved meanwhile."""
    return record_decision(
        session=session,
        comment=comment,
        action=Action(action.value),
        decided_by=DecidedBy.MODERATOR,
        reasons=_moderator_reasons(moderator, action, reason_code, reason_text),
        rules_version=previous.rules_version if previous else None,
        actor=moderator,
        rule="moderator",
        reason_code=_reason_code(action, reason_code, previous),
        note=note,
        only_if_status=only_if_status,
        webhook_url=webhook_url,
        webhook_hold_seconds=webhook_hold_seconds,
    )
