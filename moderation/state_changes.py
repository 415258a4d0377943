"""Each comment's state changes, told once they are committed: one log event each (logger
``moderation.state_changes``) and the counters of ``moderation.metrics``.

A state change is whatever the audit log records about a comment (received, approved,
rejected, escalated, reported, hidden, claimed, undone, ...): ``audit.record`` stages it on
the session, and it is told after the transaction commits, or dropped with a rollback, so a
decision that lost a race or a request that failed tells nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from moderation import logs, metrics
from moderation.db.scoping import session_site
from moderation.defaults import DEFAULT_SITE

log = logging.getLogger(__name__)

_STAGED = "moderation.state_changes"
DECISION_EVENTS = {"comment.approve", "comment.reject", "comment.escalate"}


@dataclass(frozen=True)
class StateChange:
    event: str
    """The audit action: ``comment.received``, ``comment.reject``, ..."""
    site: str
    comment_id: str
    actor: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any] | None
    latency_seconds: float | None = None
    """For a decision: seconds since the comment arrived."""
    text: str | None = None
    """Only when ``MODERATION_LOG_TEXT`` is on."""

    def fields(self) -> dict[str, Any]:
        detail = self.detail or {}
        fields: dict[str, Any] = {
            "event": self.event,
            "site": self.site,
            "comment_id": self.comment_id,
            "actor": self.actor,
            "from_state": self.from_state,
            "to_state": self.to_state,
        }
        if self.event in DECISION_EVENTS:
            fields["action"] = self.event.removeprefix("comment.")
            fields["decided_by"] = detail.get("decided_by")
            fields["rule"] = detail.get("rule")
            fields["rules_version"] = detail.get("rules_version")
        for key in ("reason_code", "report_id", "bulk", "decision_id", "overturned_rule"):
            if key in detail:
                fields[key] = detail[key]
        if self.latency_seconds is not None:
            fields["latency_ms"] = round(self.latency_seconds * 1000, 1)
        if self.text is not None:
            fields["text"] = self.text
        return fields


def stage(
    session: Session,
    *,
    event: str,
    comment_id: str,
    actor: str,
    from_state: str | None,
    to_state: str | None,
    detail: dict[str, Any] | None,
    site_id: str | None = None,
    since: datetime | None = None,
    at: datetime | None = None,
) -> None:
    """Keep a change to tell once ``session`` commits. ``since`` (the comment's arrival) and
    ``at`` (the decision's time) give a decision's latency."""
    site = site_id or session_site(session) or DEFAULT_SITE
    latency = (at - since).total_seconds() if since is not None and at is not None else None
    text = _text(session, site, comment_id) if logs.include_text() else None
    change = StateChange(
        event, site, comment_id, actor, from_state, to_state, detail, latency, text
    )
    # Tagged with the innermost transaction: a savepoint rolled back drops its own changes.
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_STAGED, []).append((transaction, change))


def _text(session: Session, site: str, comment_id: str) -> str | None:
    from moderation.db.models import Comment

    for obj in session.identity_map.values():  # no query: the comment is in the session
        if isinstance(obj, Comment) and obj.id == comment_id and obj.site_id in (site, None):
            return obj.text
    return None


def tell(change: StateChange) -> None:
    log.info("%s %s", change.event, change.comment_id, extra=change.fields())
    if change.event == "comment.received":
        metrics.inc(metrics.COMMENTS_RECEIVED, site=change.site)
    elif change.event in DECISION_EVENTS:
        detail = change.detail or {}
        decided_by = str(detail.get("decided_by") or "")
        metrics.inc(
            metrics.DECISIONS,
            site=change.site,
            action=change.event.removeprefix("comment."),
            decided_by=decided_by,
            rule=str(detail.get("rule") or ""),
        )
        if change.latency_seconds is not None:
            metrics.observe(
                metrics.DECISION_LATENCY,
                max(change.latency_seconds, 0.0),
                site=change.site,
                decided_by=decided_by,
            )


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its changes are told when the transaction commits
    for _, change in session.info.pop(_STAGED, ()):
        try:
            tell(change)
        except Exception:  # noqa: BLE001 - telling must never undo or break a commit
            log.exception("could not tell state change %s", change.event)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    """Drops the changes staged in the rolled-back transaction or a savepoint within it."""
    staged = session.info.get(_STAGED)
    if not staged:
        return

    def within(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is previous:
                return True
            transaction = transaction.parent
        return False

    kept = [(t, change) for t, change in staged if not within(t)]
    if kept:
        session.info[_STAGED] = kept
    else:
        session.info.pop(_STAGED, None)
