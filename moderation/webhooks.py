"""Webhooks to the publisher: an outbox of signed deliveries, sent by RQ jobs with retries.

A decision and its delivery row are written in one transaction (``record_event``), with the
exact body bytes. After commit the caller enqueues the recorded deliveries
(``enqueue_recorded``); if Redis is down then, ``sweep_deliveries`` (run by workers) enqueues
them later. Each attempt sends the same delivery id and the same bytes, signed with
``X-Moderation-Signature: sha256=<hex HMAC-SHA256(body, MODERATION_WEBHOOK_SECRET)>``, so
the receiver may see a delivery twice, never a different one. A moderator's decision is held
for the undo window (``hold_seconds``): its delivery's ``next_attempt_at`` is that far ahead,
its job is scheduled for then, no attempt is sent before it (a job that runs early schedules
itself again), and the sweeper sends it after it should a Redis restart or a dead worker lose
the job; an undo deletes the delivery before then (``cancel_held``). No database transaction is
open while the publisher answers (``deliver``), and the jobs run in a webhook worker of their
own (``workers/webhook_worker.py``), so a slow publisher delays neither writers nor scoring.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis
from rq import Queue
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from moderation import defaults, metrics, reasons, sites
from moderation.db.models import (
    Author,
    Comment,
    Decision,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from moderation.db.scoping import ALL_SITES, all_sites_session
from moderation.db.session import read_only
from moderation.exceptions import NotFoundError, QueueUnavailableError
from moderation.policy import Action, ReportCounts, ReportReason
from moderation.queue import enqueue_overdue, requeue_orphans
from moderation.settings import Settings

log = logging.getLogger(__name__)

DELIVER_JOB = "workers.jobs.deliver_webhook"
SWEEP_LOCK = "moderation:webhooks:sweeper:lock"
_SESSION_KEY = "moderation.webhooks.recorded"
_HOLD_KEY = "moderation.webhooks.held"

EVENT_DECIDED = "comment.decided"
EVENT_ESCALATED = "comment.escalated"
EVENT_HIDDEN = "comment.hidden"
EVENT_AUTHOR_UPDATED = "author.updated"


def sign(body: bytes, secret: str) -> str:
    """The ``X-Moderation-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    return hmac.compare_digest(sign(body, secret), signature)


def payload(comment: Comment, decision: Decision) -> dict[str, Any]:
    return {
        "event": EVENT_ESCALATED if decision.action == Action.ESCALATE else EVENT_DECIDED,
        "comment_id": comment.id,
        "article_id": comment.article_id,
        "action": decision.action,
        "decided_by": decision.decided_by,
        "reasons": [{"rule": r["rule"], "message": r["message"]} for r in decision.reasons or []],
        "rules_version": decision.rules_version,
        "decided_at": _timestamp(decision.decided_at),
        # What the commenter can be told (docs/reasons.md); both null unless rejected.
        "reason_code": reasons.decision_reason_code(decision.action, decision.reason_code)
        if decision.action == Action.REJECT
        else None,
        "reason_text": reasons.decision_reason_text(
            decision.action, decision.reason_code, decision.reasons
        ),
    }


def hidden_payload(
    comment: Comment, decision: Decision | None, reports: ReportCounts, hidden_at: datetime
) -> dict[str, Any]:
    """``comment.hidden``: readers' reports took a published comment down pending review;
    the moderator's decision follows as ``comment.decided``."""
    return {
        "event": EVENT_HIDDEN,
        "comment_id": comment.id,
        "article_id": comment.article_id,
        "reasons": [
            {"rule": r["rule"], "message": r["message"]}
            for r in (decision.reasons if decision is not None else None) or []
        ],
        "reports": {
            "total": reports.total,
            "by_reason": {r.value: reports.count(r.value) for r in ReportReason},
        },
        "hidden_at": _timestamp(hidden_at),
    }


def author_payload(
    author: Author, *, previous_status: str, rejected: Sequence[str]
) -> dict[str, Any]:
    """``author.updated``: a moderator set the author's status; the comments rejected with
    it (a ban with ``reject_pending``) follow, each as its own ``comment.decided``."""
    return {
        "event": EVENT_AUTHOR_UPDATED,
        "author_id": author.id,
        "status": author.status,
        "previous_status": previous_status,
        "suspended_until": _timestamp(author.suspended_until) if author.suspended_until else None,
        "reason": author.status_reason,
        "reason_code": author.status_reason_code,
        "rejected_comment_ids": list(rejected),
        "updated_at": _timestamp(author.status_set_at or utcnow()),
    }


def _timestamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def record_event(
    session: Session, comment: Comment, decision: Decision, *, url: str, hold_seconds: float = 0.0
) -> WebhookDelivery:
    """Add the delivery for ``decision`` to the session (same transaction as the decision);
    with ``hold_seconds`` (a moderator's undo window) it is not sent before then."""
    return _add_delivery(
        session,
        payload(comment, decision),
        url=url,
        comment_id=comment.id,
        decision=decision,
        hold_seconds=hold_seconds,
    )


def record_author_event(
    session: Session,
    author: Author,
    *,
    previous_status: str,
    rejected: Sequence[str] = (),
    url: str,
) -> WebhookDelivery:
    """Add ``author.updated`` to the session (same transaction as the status change)."""
    data = author_payload(author, previous_status=previous_status, rejected=rejected)
    return _add_delivery(session, data, url=url, author_id=author.id)


def record_delivery(
    session: Session,
    comment: Comment,
    data: dict[str, Any],
    decision: Decision | None,
    *,
    url: str,
) -> WebhookDelivery:
    """Add a delivery of ``data`` (an event's payload) to the session, in the transaction of
    what it reports; the caller enqueues it after commit (``enqueue_recorded``)."""
    return _add_delivery(session, data, url=url, comment_id=comment.id, decision=decision)


def _add_delivery(
    session: Session,
    data: dict[str, Any],
    *,
    url: str,
    comment_id: str | None = None,
    decision: Decision | None = None,
    author_id: str | None = None,
    hold_seconds: float = 0.0,
) -> WebhookDelivery:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    session.flush()  # the decision's id
    now = utcnow()
    delivery = WebhookDelivery(
        id=f"dlv_{uuid.uuid4().hex}",
        event=data["event"],
        comment_id=comment_id,
        author_id=author_id,
        decision_id=decision.id if decision is not None else None,
        url=url,
        body=body,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        created_at=now,
        next_attempt_at=now + timedelta(seconds=hold_seconds),
    )
    session.add(delivery)
    session.info.setdefault(_SESSION_KEY, []).append(delivery.id)
    if hold_seconds > 0:
        session.info.setdefault(_HOLD_KEY, {})[delivery.id] = hold_seconds
    return delivery


def webhook_queue(conn: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.webhook_queue, connection=conn, default_timeout=60)


def enqueue_recorded(session: Session, *, conn: redis.Redis | None, settings: Settings) -> None:
    """After commit: enqueue the deliveries this session recorded. Never raises for Redis;
    the sweeper sends what could not be queued."""
    ids = session.info.pop(_SESSION_KEY, [])
    held: dict[str, float] = session.info.pop(_HOLD_KEY, {})
    if not ids or conn is None:
        return
    by_delay: dict[float, list[str]] = {}
    for delivery_id in ids:
        by_delay.setdefault(held.get(delivery_id, 0.0), []).append(delivery_id)
    try:
        for delay, group in by_delay.items():
            enqueue_deliveries(
                session=session, conn=conn, settings=settings, delivery_ids=group, delay=delay
            )
    except QueueUnavailableError as exc:
        log.warning("%d webhook delivery(ies) stored but not queued: %s", len(ids), exc)


def cancel_held(session: Session, decision_id: int, *, now: datetime) -> tuple[list[str], int]:
    """In the undo's transaction, first: delete the deliveries of ``decision_id`` that are
    still held (never attempted, not due before ``now``). Returns the deleted ids and how many
    deliveries of the decision are left (due or sent already: the undo must then fail)."""
    held = (
        WebhookDelivery.decision_id == decision_id,
        WebhookDelivery.status == DeliveryStatus.PENDING.value,
        WebhookDelivery.attempts == 0,
        WebhookDelivery.next_attempt_at > now,
    )
    ids = list(session.scalars(select(WebhookDelivery.id).where(*held)))
    if ids:
        session.execute(
            delete(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), *held)
            .execution_options(synchronize_session=False)
        )
    left = session.scalar(
        select(func.count(WebhookDelivery.id)).where(
            WebhookDelivery.decision_id == decision_id, WebhookDelivery.id.not_in(ids)
        )
    )
    return ids, int(left or 0)


def enqueue_deliveries(
    *,
    session: Session,
    conn: redis.Redis,
    settings: Settings,
    delivery_ids: Sequence[str],
    delay: float = 0.0,
) -> list[str]:
    queue = webhook_queue(conn, settings)
    job_ids = []
    for delivery_id in delivery_ids:
        job_id = f"webhook-{delivery_id}-{uuid.uuid4().hex[:8]}"
        try:
            kwargs: dict[str, Any] = {
                "job_id": job_id,
                "result_ttl": 3600,
                "failure_ttl": 7 * 24 * 3600,
                "job_timeout": int(settings.webhook_timeout_seconds) + 30,
                "description": f"deliver webhook {delivery_id}",
            }
            if delay > 0:
                queue.enqueue_in(timedelta(seconds=delay), DELIVER_JOB, delivery_id, **kwargs)
            else:
                queue.enqueue(DELIVER_JOB, delivery_id, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            session.rollback()
            raise QueueUnavailableError(f"Redis is unreachable: {exc}") from exc
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is not None:
            delivery.job_id = job_id
        session.commit()
        job_ids.append(job_id)
    return job_ids


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: str
    number: int
    delivered: bool
    status_code: int | None
    error: str | None
    retry_in: float | None
    """Seconds until the next attempt; ``None`` when delivered or given up."""


@dataclass(frozen=True)
class _Held:
    """A first attempt asked for before the delivery's ``next_attempt_at`` (held for undo)."""

    seconds_left: float


@dataclass(frozen=True)
class _Outgoing:
    """What one attempt sends, read in a short transaction that is closed before the POST."""

    id: str
    url: str
    body: bytes
    headers: dict[str, str]
    number: int


def _read_outgoing(
    session_factory: sessionmaker[Session], settings: Settings, delivery_id: str
) -> _Outgoing | _Held | None:
    # Delivery ids are unique across sites; each is signed with its own site's secret.
    with read_only(session_factory, ALL_SITES) as session:  # SQLite: takes no write lock
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
            return None
        due = delivery.next_attempt_at
        if delivery.attempts == 0 and due is not None and due > utcnow():
            left = (due - utcnow()).total_seconds()
            session.rollback()
            return _Held(left)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "moderation-webhooks/1",
            "X-Moderation-Event": delivery.event,
            "X-Moderation-Delivery": delivery.id,
        }
        secret = sites.webhook_secret(session, delivery.site_id, settings)
        if secret:
            headers["X-Moderation-Signature"] = sign(delivery.body, secret)
        outgoing = _Outgoing(
            delivery.id, delivery.url, bytes(delivery.body), headers, delivery.attempts + 1
        )
        session.rollback()  # only read: end the transaction before the network call
    return outgoing


def deliver(
    *,
    session_factory: sessionmaker[Session],
    conn: redis.Redis | None,
    settings: Settings,
    delivery_id: str,
    client: httpx.Client | None = None,
) -> AttemptResult | None:
    """One attempt: POST the stored body, log the attempt, schedule the next one on failure.

    Three steps, so that no database transaction is open while the publisher answers (up to
    ``MODERATION_WEBHOOK_TIMEOUT_SECONDS``): read the delivery and close the transaction;
    POST; record the attempt in a new short transaction. The record is a compare-and-set on
    the delivery's attempt count and status as read, so when two runs of the same delivery
    overlap (a duplicate job, a job re-run after its worker died) each POSTs the same id,
    bytes and signature, and only the first to finish records its attempt.

    Returns ``None`` when there is nothing to do (unknown, delivered, given up) or when
    another run recorded this attempt first.
    """
    outgoing = _read_outgoing(session_factory, settings, delivery_id)
    if outgoing is None:
        return None
    if isinstance(outgoing, _Held):
        # Held for a moderator's undo window: never sent early; the job comes back on time
        # (and should that fail, the sweeper sends it once it is due).
        if conn is not None:
            with all_sites_session(session_factory) as session:
                try:
                    enqueue_deliveries(
                        session=session,
                        conn=conn,
                        settings=settings,
                        delivery_ids=[delivery_id],
                        delay=max(outgoing.seconds_left, 0.05),
                    )
                except QueueUnavailableError as exc:
                    log.warning(
                        "held webhook %s not rescheduled (%s); the sweeper will", delivery_id, exc
                    )
        return None
    number = outgoing.number
    status_code: int | None = None
    error: str | None = None
    started = time.perf_counter()
    own_client = client is None
    http = client or httpx.Client(timeout=settings.webhook_timeout_seconds)
    try:
        response = http.post(outgoing.url, content=outgoing.body, headers=outgoing.headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        if own_client:
            http.close()
    duration_ms = round((time.perf_counter() - started) * 1000, 2)

    now = utcnow()
    retry_in: float | None = None
    values: dict[str, Any] = {
        "attempts": number,
        "last_status_code": status_code,
        "last_error": error,
    }
    if error is None:
        values |= {
            "status": DeliveryStatus.DELIVERED.value,
            "delivered_at": now,
            "next_attempt_at": None,
        }
    else:
        schedule = settings.webhook_retry_schedule
        if number <= len(schedule):
            retry_in = schedule[number - 1]
            values["next_attempt_at"] = now + timedelta(seconds=retry_in)
        else:
            values |= {"status": DeliveryStatus.FAILED.value, "next_attempt_at": None}
    with all_sites_session(session_factory) as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.attempts == number - 1,
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            session.rollback()
            log.info(
                "webhook %s attempt %d: %s (%.0f ms), not recorded: another run recorded it",
                delivery_id,
                number,
                status_code if error is None else error,
                duration_ms,
            )
            return None
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                number=number,
                at=now,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        session.commit()
        outcome = "delivered" if error is None else "retry" if retry_in is not None else "failed"
        metrics.inc(metrics.WEBHOOK_DELIVERIES, outcome=outcome)
        log.info(
            "webhook %s attempt %d: %s (%.0f ms)",
            delivery_id,
            number,
            status_code if error is None else error,
            duration_ms,
        )
        if retry_in is not None and conn is not None:
            try:
                enqueue_deliveries(
                    session=session,
                    conn=conn,
                    settings=settings,
                    delivery_ids=[delivery_id],
                    delay=retry_in,
                )
            except QueueUnavailableError as exc:
                log.warning("webhook %s: retry not queued (%s); the sweeper will", delivery_id, exc)
    return AttemptResult(delivery_id, number, error is None, status_code, error, retry_in)


def sweep_deliveries(
    *,
    session_factory: sessionmaker[Session],
    conn: redis.Redis,
    settings: Settings,
    after_seconds: float = defaults.DEFAULT_WEBHOOK_SWEEP_AFTER_SECONDS,
    limit: int = 1000,
) -> int:
    """Enqueue pending deliveries that are due and have no live job (lost in a Redis outage)."""
    cutoff = utcnow() - timedelta(seconds=after_seconds)
    return requeue_orphans(
        session_factory=session_factory,
        conn=conn,
        lock=SWEEP_LOCK,
        lock_ms=int(settings.sweep_interval_seconds * 1000),
        rows=select(WebhookDelivery.id, WebhookDelivery.job_id, WebhookDelivery.site_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.next_attempt_at <= cutoff,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit),
        enqueue=lambda session, ids: enqueue_deliveries(
            session=session, conn=conn, settings=settings, delivery_ids=ids
        ),
        what="webhook delivery(ies)",
        first=lambda: enqueue_overdue([webhook_queue(conn, settings)]),
    )


def list_deliveries(
    session: Session,
    *,
    status: str | None = None,
    comment_id: str | None = None,
    author_id: str | None = None,
    limit: int = 100,
) -> list[WebhookDelivery]:
    stmt = (
        select(WebhookDelivery)
        .options(selectinload(WebhookDelivery.attempt_log))
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if comment_id is not None:
        stmt = stmt.where(WebhookDelivery.comment_id == comment_id)
    if author_id is not None:
        stmt = stmt.where(WebhookDelivery.author_id == author_id)
    return list(session.scalars(stmt))


def get_delivery(session: Session, delivery_id: str) -> WebhookDelivery:
    delivery = session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .options(selectinload(WebhookDelivery.attempt_log))
    )
    if delivery is None:
        raise NotFoundError("webhook delivery", delivery_id)
    return delivery


def redeliver(
    *, session: Session, conn: redis.Redis, settings: Settings, delivery_id: str
) -> WebhookDelivery:
    """Send a delivery again, same id and same bytes (e.g. after the publisher lost it)."""
    delivery = get_delivery(session, delivery_id)
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = utcnow()
    session.commit()
    try:
        enqueue_deliveries(
            session=session, conn=conn, settings=settings, delivery_ids=[delivery_id]
        )
    except QueueUnavailableError as exc:
        log.warning("redelivery of %s not queued (%s); the sweeper will", delivery_id, exc)
    return get_delivery(session, delivery_id)
