"""Forgetting: a site's text retention, and an author's erasure on request.

**Retention.** A site with ``retention_days`` keeps a comment's text that long after it
arrived. Then the text is emptied, and with it whatever quotes it (the evidence of its
scores: spans, links, contact details); the comment keeps its scores, decisions, reports
and audit rows, and ``text_erased_at`` says when. Perspective requests stored by the site
(``doNotStore`` false) are emptied on the same schedule. Workers run the purge (at most
once an hour across all of them: a Redis lock).

**Erasure.** ``forget_author`` (``moderation authors forget SITE AUTHOR_ID``, or
``DELETE /v1/authors/{id}`` with an admin key) empties the text of every comment by the
author on that site, replaces the author's id and name everywhere (comments, readers'
reports they made, the audit log, the outbox) by one random pseudonym, and deletes the
status and notes moderators kept on them. Decisions stay, so the site's statistics and its
statements of reasons do not change. The audit log records that an erasure happened, who
asked for it and how many rows it touched, never whom it was about.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from moderation import audit
from moderation.db.models import (
    AuditEntry,
    Author,
    AuthorNote,
    Comment,
    CommentReport,
    PerspectiveRequest,
    PerspectiveSuggestion,
    Score,
    Site,
    WebhookDelivery,
    utcnow,
)
from moderation.db.scoping import all_sites_session, current_site, site_session

log = logging.getLogger(__name__)

PURGE_LOCK = "moderation:retention:lock"
PURGE_EVERY_SECONDS = 3600
PURGE_BATCH = 1000
"""Comments emptied per transaction (a site's first purge may touch years of them)."""

PSEUDONYM_PREFIX = "erased-"


# --- retention --------------------------------------------------------------------------------
def purge_site(session: Session, retention_days: int, *, now: datetime | None = None) -> int:
    """Empty the text of the session's site's comments received more than ``retention_days``
    ago (``PURGE_BATCH`` at a time; call until it returns 0); the caller commits."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    ids = list(
        session.scalars(
            select(Comment.id)
            .where(Comment.received_at < cutoff, Comment.text_erased_at.is_(None))
            .limit(PURGE_BATCH)
        )
    )
    if ids:
        _erase_text(session, ids, now or utcnow())
    session.execute(
        update(PerspectiveRequest)
        .where(PerspectiveRequest.received_at < cutoff, PerspectiveRequest.text != "")
        .values(text="", context=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PerspectiveSuggestion)
        .where(PerspectiveSuggestion.received_at < cutoff, PerspectiveSuggestion.text.is_not(None))
        .values(text=None, context=None)
        .execution_options(synchronize_session=False)
    )
    return len(ids)


def _erase_text(session: Session, comment_ids: list[str], now: datetime) -> None:
    session.execute(
        update(Comment)
        .where(Comment.id.in_(comment_ids))
        .values(text="", text_erased_at=now)
        .execution_options(synchronize_session=False)
    )
    # Evidence quotes the text (spans, links, contact details): the values stay.
    session.execute(
        update(Score)
        .where(Score.comment_id.in_(comment_ids))
        .values(evidence=None)
        .execution_options(synchronize_session=False)
    )


def purge_expired(
    session_factory: sessionmaker[Session], *, now: datetime | None = None
) -> dict[str, int]:
    """Apply every site's retention; comments emptied per site."""
    with all_sites_session(session_factory) as session:
        sites = [
            (s.id, s.retention_days)
            for s in session.scalars(select(Site).where(Site.retention_days.is_not(None)))
        ]
    done: dict[str, int] = {}
    for site_id, days in sites:
        assert days is not None
        total = 0
        while True:
            with site_session(session_factory, site_id) as session:
                count = purge_site(session, days, now=now)
                session.commit()
            total += count
            if count < PURGE_BATCH:
                break
        if total:
            log.info("retention: emptied the text of %d comment(s) of site %s", total, site_id)
        done[site_id] = total
    return done


def purge_if_due(session_factory: sessionmaker[Session], conn: redis.Redis) -> dict[str, int]:
    """``purge_expired``, by at most one worker an hour (the others find the lock taken)."""
    if not conn.set(PURGE_LOCK, b"1", nx=True, ex=PURGE_EVERY_SECONDS):
        return {}
    return purge_expired(session_factory)


# --- an author's erasure ----------------------------------------------------------------------
@dataclass(frozen=True)
class Erasure:
    pseudonym: str
    comments: int
    reports: int
    notes: int
    audit_rows: int
    deliveries: int

    def counts(self) -> dict[str, Any]:
        return {
            "comments": self.comments,
            "reports_made": self.reports,
            "notes_deleted": self.notes,
            "audit_rows": self.audit_rows,
            "deliveries_deleted": self.deliveries,
        }


def _pseudonymise_report_rows(
    session: Session, comment_ids: list[str], author_id: str, pseudonym: str
) -> int:
    """The audit rows of the author's reports name them as the reporter: renamed too."""
    changed = 0
    for start in range(0, len(comment_ids), PURGE_BATCH):
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "comment.reported",
                AuditEntry.subject_type == "comment",
                AuditEntry.subject_id.in_(comment_ids[start : start + PURGE_BATCH]),
            )
        )
        for row in rows:
            if (row.detail or {}).get("reporter_id") == author_id:
                row.detail = {**(row.detail or {}), "reporter_id": pseudonym}
                changed += 1
    session.flush()
    return changed


def forget_author(session: Session, author_id: str, *, actor: str) -> Erasure:
    """Erase ``author_id`` on the session's site (see the module's docstring); the caller
    commits. Erasing an author with nothing stored still records the request."""
    pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(8)
    now = utcnow()
    comment_ids = list(session.scalars(select(Comment.id).where(Comment.author_id == author_id)))
    for start in range(0, len(comment_ids), PURGE_BATCH):
        _erase_text(session, comment_ids[start : start + PURGE_BATCH], now)
    session.execute(
        update(Comment)
        .where(Comment.author_id == author_id)
        .values(author_id=pseudonym, author_name=None)
        .execution_options(synchronize_session=False)
    )
    reported = list(
        session.scalars(
            select(CommentReport.comment_id).where(CommentReport.reporter_id == author_id)
        )
    )
    audit_rows = _pseudonymise_report_rows(session, reported, author_id, pseudonym)
    reports = session.execute(
        update(CommentReport)
        .where(CommentReport.reporter_id == author_id)
        .values(reporter_id=pseudonym, note=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    notes = session.execute(
        delete(AuthorNote)
        .where(AuthorNote.author_id == author_id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        delete(Author).where(Author.id == author_id).execution_options(synchronize_session=False)
    )
    audit_rows += session.execute(
        update(AuditEntry)
        .where(AuditEntry.subject_type == "author", AuditEntry.subject_id == author_id)
        .values(subject_id=pseudonym, detail=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    # author.updated deliveries name the author in their body, which is sent byte for byte:
    # they go (the publisher asked for the erasure, or is told of it by its own request).
    deliveries = session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.author_id == author_id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    erasure = Erasure(
        pseudonym, len(comment_ids), int(reports), int(notes), int(audit_rows), int(deliveries)
    )
    audit.record(
        session,
        actor=actor,
        action="author.erased",
        subject_type="author",
        subject_id=pseudonym,
        detail={"site": current_site(session), **erasure.counts()},
    )
    session.expire_all()
    return erasure
