"""The audit log: who did what, to which thing, from which state, when; written in the
transaction of what it records, read newest first a page at a time (``list_entries``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation import state_changes
from moderation.db.models import AuditEntry
from moderation.exceptions import InvalidCursorError


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
    site_id: str | None = None,
    since: datetime | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """One row, in the session's site unless ``site_id`` names one (the site's own events,
    written by the command line from a session over every site). A comment's row is also a
    state change, logged and counted once the transaction commits (``since``, the comment's
    arrival, and ``at``, the change's time, give a decision's latency)."""
    entry = AuditEntry(
        site_id=site_id,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )
    session.add(entry)
    if subject_type == "comment":
        state_changes.stage(
            session,
            event=action,
            comment_id=subject_id,
            actor=actor,
            from_state=from_state,
            to_state=to_state,
            detail=detail,
            site_id=site_id,
            since=since,
            at=at,
        )
    return entry


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


def list_entries(
    session: Session,
    *,
    subject_type: str,
    subject_id: str,
    cursor: str | None = None,
    limit: int = 50,
) -> AuditPage:
    """One thing's audit rows, newest first (by id: the order they were written), a page at a
    time; the cursor is the last row's id, so rows written meanwhile never shift the pages
    after it. ``InvalidCursorError`` for a cursor this function did not give out."""
    stmt = select(AuditEntry).where(
        AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id
    )
    if cursor is not None:
        stmt = stmt.where(AuditEntry.id < _decode(cursor))
    rows = list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, _encode(rows[-1].id) if more and rows else None)


CURSOR_PREFIX = "a"


def _encode(entry_id: int) -> str:
    return f"{CURSOR_PREFIX}{entry_id}"


def _decode(cursor: str) -> int:
    body = cursor.removeprefix(CURSOR_PREFIX)
    if body == cursor or not body.isascii() or not body.isdigit() or len(body) > 19:
        raise InvalidCursorError(f"not a cursor this server gave out: {cursor[:40]!r}")
    return int(body)
