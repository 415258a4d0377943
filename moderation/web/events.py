"""Server-sent events for the /moderate page (``GET /moderate/events``): new escalations and
other moderators' decisions, claims, undos and readers' reports, so an open page refreshes
at once instead of at its next poll.

The stream reads the database, not a message bus: every ``EVENTS_TICK_SECONDS`` one short
session reads the decisions and audit rows written since the last ids it sent (two indexed
range queries, at most ``EVENTS_BATCH`` rows each), in a worker thread so the event loop
never waits on the database. A stream ends after ``EVENTS_STREAM_SECONDS``; the browser's
EventSource reconnects with ``Last-Event-ID`` (the session is checked again then) and misses
nothing (ids are taken at insert, so a row committed after a higher one was sent is left
to the poll). The page still polls (every 10 s while the stream is up, for what writes no row
here, such as highlighting found after the decision; every 3 s when it is not), so the
stream is a speed-up, never the only way a change arrives.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from moderation.db.models import AuditEntry, DecidedBy, Decision
from moderation.db.session import READ_ONLY
from moderation.policy import Action

EVENTS_TICK_SECONDS = 1.0
"""How often a stream looks for new rows."""

EVENTS_STREAM_SECONDS = 300.0
"""How long one stream lasts before the browser reconnects (and the session is checked)."""

EVENTS_KEEPALIVE_SECONDS = 15.0
"""A comment line this often, so proxies keep an idle stream open."""

EVENTS_BATCH = 50
"""At most this many rows of each kind a tick (the rest come at the next)."""

RETRY_MS = 3000
"""What the browser waits before reconnecting."""

QUEUE_ACTIONS = (
    "review.claim",
    "review.release",
    "review.expire",
    "review.undo",
    "review.reprioritise",
    "comment.reported",
    "comment.requeue",
    "comment.hide",
    "author.status",
    "author.reject_pending",
)
"""Audit rows that change what a queue shows (decisions come from the decisions table); not
renewals, notes, or comments and articles coming in, which every busy minute brings."""

_CURSOR = re.compile(r"^d(\d{1,19})\.a(\d{1,19})$")


@dataclass(frozen=True)
class Cursor:
    decision_id: int
    audit_id: int

    def __str__(self) -> str:
        return f"d{self.decision_id}.a{self.audit_id}"

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        m = _CURSOR.match(raw or "")
        return cls(int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class Event:
    kind: str
    """``escalated``, ``decided`` or ``changed``."""
    data: dict[str, Any]


def latest(session: Session) -> Cursor:
    """Where a new stream starts: after everything written so far."""
    return Cursor(
        session.scalar(select(func.coalesce(func.max(Decision.id), 0))) or 0,
        session.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))) or 0,
    )


def changes(session: Session, after: Cursor, *, moderator: str) -> tuple[list[Event], Cursor]:
    """What happened after ``after`` that this moderator's queue may show: escalations (the
    rules', or a reported comment sent back), other moderators' decisions, and the
    ``QUEUE_ACTIONS`` audit rows not this moderator's (others' claims, releases and undos,
    readers' reports, status changes). The moderator's own actions are left out: the page
    that made them knows."""
    decisions = session.execute(
        select(Decision.id, Decision.comment_id, Decision.action, Decision.decided_by,
               Decision.actor)
        .where(Decision.id > after.decision_id)
        .order_by(Decision.id)
        .limit(EVENTS_BATCH)
    ).tuples().all()  # fmt: skip
    audits = session.execute(
        select(AuditEntry.id, AuditEntry.subject_type, AuditEntry.subject_id, AuditEntry.action,
               AuditEntry.actor)
        .where(AuditEntry.id > after.audit_id)
        .order_by(AuditEntry.id)
        .limit(EVENTS_BATCH)
    ).tuples().all()  # fmt: skip
    events = []
    for _, comment_id, action, decided_by, actor in decisions:
        if action == Action.ESCALATE.value:
            events.append(Event("escalated", {"comment_id": comment_id}))
        elif decided_by == DecidedBy.MODERATOR.value and actor != moderator:
            events.append(Event("decided", {"comment_id": comment_id, "action": action,
                                            "moderator": actor}))  # fmt: skip
    for _, subject_type, subject_id, action, actor in audits:
        if action in QUEUE_ACTIONS and actor != moderator:
            events.append(Event("changed", {"subject_type": subject_type,
                                            "subject_id": subject_id, "action": action,
                                            "actor": actor}))  # fmt: skip
    cursor = Cursor(
        decisions[-1][0] if decisions else after.decision_id,
        audits[-1][0] if audits else after.audit_id,
    )
    return events, cursor


def _frame(event: Event, cursor: Cursor) -> str:
    return f"id: {cursor}\nevent: {event.kind}\ndata: {json.dumps(event.data)}\n\n"


async def stream(
    *,
    session_factory: Callable[[], Session],
    moderator: str,
    last_event_id: str | None,
    disconnected: Callable[[], Any],
    tick_seconds: float = EVENTS_TICK_SECONDS,
    stream_seconds: float = EVENTS_STREAM_SECONDS,
) -> AsyncIterator[str]:
    """The text of one stream, frame by frame."""

    def start() -> Cursor:
        with session_factory() as session:
            session.connection(execution_options={READ_ONLY: True})  # SQLite: no write lock
            return Cursor.parse(last_event_id) or latest(session)

    def tick(after: Cursor) -> tuple[list[Event], Cursor]:
        with session_factory() as session:
            session.connection(execution_options={READ_ONLY: True})
            return changes(session, after, moderator=moderator)

    loop = asyncio.get_running_loop()
    cursor = await run_in_threadpool(start)
    yield f"retry: {RETRY_MS}\nid: {cursor}\nevent: ready\ndata: {{}}\n\n"
    ends = loop.time() + stream_seconds
    quiet_since = loop.time()
    while loop.time() < ends:
        await asyncio.sleep(tick_seconds)
        if await disconnected():
            return
        events, cursor = await run_in_threadpool(tick, cursor)
        for event in events:
            yield _frame(event, cursor)
        if events:
            quiet_since = loop.time()
        elif loop.time() - quiet_since >= EVENTS_KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = loop.time()
