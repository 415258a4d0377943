"""The audit log: who did what, to which thing, from which state, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from moderation.db.models import AuditEntry


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
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )
    session.add(entry)
    return entry
