"""The webhook outbox: written with the decision, delivered with retries, logged, resent.

Deliveries are sent here by calling the job's function directly (as the worker would),
against a real HTTP server standing in for the publisher.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from moderation import webhooks
from moderation.comments import get_comment
from moderation.db import DecidedBy
from moderation.db.models import WebhookDelivery
from moderation.decisions import record_decision
from tests.api.test_reviews import add_comment
from tests.conftest import auth
from tests.receiver import Receiver

ADMIN = auth("admin")
MOD = auth("moderator")
SECRET = "publisher-shared-secret"


@pytest.fixture
def receiver():
    with Receiver(fail_first=2) as r:
        yield r


@pytest.fixture
def hook_settings(settings, receiver):
    return settings.model_copy(
        update={
            "webhook_url": receiver.url,
            "webhook_secret": SECRET,
            "webhook_retry_intervals": "2,5",
            "undo_seconds": 0,  # moderators' webhooks at once (tests/api/test_undo.py holds them)
        }
    )


@pytest.fixture
def api(hook_settings):
    from moderation.api.main import create_app

    with TestClient(create_app(hook_settings)) as client:
        yield client


def deliveries(session_factory) -> list[WebhookDelivery]:
    with session_factory() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def test_delivery_is_written_in_the_decisions_transaction(session_factory, hook_settings):
    add_comment(session_factory, "c1", action=None)
    with session_factory() as s:
        comment = get_comment(s, "c1")
        record_decision(
            session=s, comment=comment, action="approve", decided_by=DecidedBy.RULES,
            reasons=[{"rule": "ok", "message": "fine"}], rules_version="r1",
            webhook_url=hook_settings.webhook_url,
        )  # fmt: skip
        s.rollback()
    assert deliveries(session_factory) == []
    with session_factory() as s:
        comment = get_comment(s, "c1")
        record_decision(
            session=s, comment=comment, action="approve", decided_by=DecidedBy.RULES,
            reasons=[{"rule": "ok", "message": "fine"}], rules_version="r1",
            webhook_url=hook_settings.webhook_url,
        )  # fmt: skip
        s.commit()
    [delivery] = deliveries(session_factory)
    assert delivery.event == "comment.decided" and delivery.status == "pending"
    assert json.loads(delivery.body)["action"] == "approve"


def test_failing_receiver_gets_the_third_attempt_signed_and_identical(
    api, session_factory, hook_settings, redis_conn, receiver
):
    add_comment(session_factory, "c1")
    r = api.post("/v1/reviews/c1/decision", json={"action": "reject"}, headers=MOD)
    assert r.status_code == 201, r.text
    [delivery] = deliveries(session_factory)
    queue = Queue(hook_settings.webhook_queue, connection=redis_conn)
    assert [j.args for j in queue.get_jobs()] == [(delivery.id,)]

    def attempt():
        return webhooks.deliver(
            session_factory=session_factory, conn=redis_conn, settings=hook_settings,
            delivery_id=delivery.id,
        )  # fmt: skip

    first = attempt()
    assert first and not first.delivered and first.retry_in == 2 and first.status_code == 503
    scheduled = ScheduledJobRegistry(queue=queue)
    assert len(scheduled.get_job_ids()) == 1  # the retry waits in RQ's scheduler
    second = attempt()
    assert second and not second.delivered and second.retry_in == 5
    third = attempt()
    assert third and third.delivered and third.retry_in is None
    assert attempt() is None  # delivered: a late duplicate job does nothing

    assert len(receiver.received) == 3
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1 and bodies == {delivery.body}
    for got in receiver.received:
        assert got.headers["x-moderation-delivery"] == delivery.id
        assert got.headers["x-moderation-event"] == "comment.decided"
        assert webhooks.verify(got.body, SECRET, got.headers["x-moderation-signature"])
    payload = json.loads(receiver.received[-1].body)
    assert payload["decided_by"] == "moderator" and payload["action"] == "reject"
    assert payload["comment_id"] == "c1" and payload["article_id"] == "a1"

    log = api.get("/v1/webhooks/deliveries", headers=ADMIN)
    assert log.status_code == 200, log.text
    [entry] = log.json()
    assert entry["id"] == delivery.id and entry["status"] == "delivered"
    assert [(a["number"], a["status_code"]) for a in entry["attempt_log"]] == [
        (1, 503), (2, 503), (3, 200)
    ]  # fmt: skip
    assert entry["attempt_log"][0]["error"] == "HTTP 503"
    assert all(a["duration_ms"] >= 0 for a in entry["attempt_log"])
    assert api.get("/v1/webhooks/deliveries", headers=MOD).status_code == 403

    # Redelivery: same id, same bytes, one more attempt in the log.
    again = api.post(f"/v1/webhooks/deliveries/{delivery.id}/redeliver", headers=ADMIN)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    assert attempt().delivered
    assert receiver.received[-1].body == delivery.body
    assert receiver.received[-1].headers["x-moderation-delivery"] == delivery.id
    entry = api.get("/v1/webhooks/deliveries", headers=ADMIN).json()[0]
    assert [a["number"] for a in entry["attempt_log"]] == [1, 2, 3, 4]
    missing = api.post("/v1/webhooks/deliveries/nope/redeliver", headers=ADMIN)
    assert missing.status_code == 404


def test_gives_up_after_the_last_interval(session_factory, hook_settings, receiver):
    receiver.fail_first = 100
    add_comment(session_factory, "c1", action=None)
    with session_factory() as s:
        record_decision(
            session=s, comment=get_comment(s, "c1"), action="reject", decided_by=DecidedBy.RULES,
            reasons=[], rules_version="r1", webhook_url=hook_settings.webhook_url,
        )  # fmt: skip
        s.commit()
    [delivery] = deliveries(session_factory)
    results = [
        webhooks.deliver(
            session_factory=session_factory,
            conn=None,
            settings=hook_settings,
            delivery_id=delivery.id,
        )  # fmt: skip
        for _ in range(3)
    ]
    assert [r.retry_in for r in results if r] == [2, 5, None]
    [delivery] = deliveries(session_factory)
    assert delivery.status == "failed" and delivery.attempts == 3


def test_sweeper_enqueues_deliveries_whose_job_was_lost(session_factory, hook_settings, redis_conn):
    add_comment(session_factory, "c1", action=None)
    with session_factory() as s:
        record_decision(
            session=s, comment=get_comment(s, "c1"), action="approve", decided_by=DecidedBy.RULES,
            reasons=[], rules_version="r1", webhook_url=hook_settings.webhook_url,
        )  # fmt: skip
        s.commit()  # and Redis was down: nothing was enqueued
    queue = Queue(hook_settings.webhook_queue, connection=redis_conn)
    assert queue.count == 0
    swept = webhooks.sweep_deliveries(
        session_factory=session_factory, conn=redis_conn, settings=hook_settings, after_seconds=0
    )
    assert swept == 1 and queue.count == 1
    redis_conn.delete(webhooks.SWEEP_LOCK)
    again = webhooks.sweep_deliveries(
        session_factory=session_factory, conn=redis_conn, settings=hook_settings, after_seconds=0
    )
    assert again == 0  # its job is live now
    with session_factory() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 1
