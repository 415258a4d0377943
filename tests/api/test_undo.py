"""Undo (``POST /v1/reviews/{id}/undo``) and bulk decisions (``POST /v1/reviews/bulk-decision``):
a moderator's webhook is held for the undo window, an undone decision's is never sent, and a
kept one is sent after the window, by its job or, when Redis lost the job, by the sweeper.

Deliveries are sent by calling the job's function directly (as the webhook worker would),
against a real HTTP server standing in for the publisher. The window is a minute, so that a
loaded machine never closes it between two requests of a test; a test that needs it closed
moves the stored decision and delivery times into the past (``elapse``) instead of sleeping."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from moderation import webhooks
from moderation.db import AuditEntry, Comment, Decision
from moderation.db.models import WebhookDelivery
from tests.api.test_reviews import BOB, BOB_KEY, MOD, add_comment, audits
from tests.conftest import API_KEYS_SPEC
from tests.receiver import Receiver

UNDO = 60.0  # seconds: the window in these tests


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def undo_settings(settings, receiver):
    return settings.model_copy(
        update={
            "api_keys": f"{API_KEYS_SPEC},moderator/bob:{BOB_KEY}",
            "webhook_url": receiver.url,
            "webhook_secret": "s3cret",
            "undo_seconds": UNDO,
        }
    )


@pytest.fixture
def api(undo_settings):
    from moderation.api.main import create_app

    with TestClient(create_app(undo_settings)) as client:
        yield client


def elapse(session_factory, seconds):
    """As if ``seconds`` had passed for every stored decision and webhook delivery: the undo
    window and the deliveries' holds are judged from these times."""
    step = timedelta(seconds=seconds)
    with session_factory() as s:
        for decision in s.scalars(select(Decision)):
            decision.decided_at -= step
        for delivery in s.scalars(select(WebhookDelivery)):
            delivery.created_at -= step
            if delivery.next_attempt_at is not None:
                delivery.next_attempt_at -= step
        s.commit()


def deliveries(session_factory, cid):
    with session_factory() as s:
        return list(s.scalars(select(WebhookDelivery).where(WebhookDelivery.comment_id == cid)))


def deliver_all(session_factory, redis_conn, settings):
    for d in deliveries_all(session_factory):
        webhooks.deliver(
            session_factory=session_factory, conn=redis_conn, settings=settings, delivery_id=d
        )


def deliveries_all(session_factory):
    with session_factory() as s:
        return list(s.scalars(select(WebhookDelivery.id)))


def sent(receiver):
    return [
        (
            json.loads(r.body)["event"],
            json.loads(r.body)["comment_id"],
            json.loads(r.body)["action"],
        )
        for r in receiver.received
    ]


def test_undo_within_the_window_reopens_the_review_and_its_webhook_is_never_sent(
    api, session_factory, undo_settings, redis_conn, receiver
):
    add_comment(session_factory, "c1")
    r = api.post("/v1/reviews/c1/decision", json={"action": "reject"}, headers=MOD)
    assert r.status_code == 201, r.text
    [held] = deliveries(session_factory, "c1")
    assert held.next_attempt_at > held.created_at  # held for the window (and its grace)
    # Its job is scheduled for then, not queued now.
    queue = Queue(undo_settings.webhook_queue, connection=redis_conn)
    assert queue.get_jobs() == [] and len(ScheduledJobRegistry(queue=queue)) == 1
    # A run of the job before then sends nothing (and schedules it again).
    assert (
        webhooks.deliver(
            session_factory=session_factory,
            conn=redis_conn,
            settings=undo_settings,
            delivery_id=held.id,
        )
        is None
    )
    assert receiver.received == []

    undone = api.post("/v1/reviews/c1/undo", headers=MOD)
    assert undone.status_code == 200, undone.text
    assert undone.json() == {
        "comment_id": "c1",
        "undone_decision_id": r.json()["id"],
        "status": "escalated",
    }
    with session_factory() as s:
        assert s.get(Comment, ("default", "c1")).status == "escalated"
        assert [
            d.action for d in s.scalars(select(Decision).where(Decision.comment_id == "c1"))
        ] == ["escalate"]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "review.undo")).one()
        assert entry.detail["decision_id"] == r.json()["id"]
        assert entry.detail["cancelled_deliveries"] == [held.id]
    assert ("moderator-tester", "review.undo", "rejected", "escalated") in audits(
        session_factory, "c1"
    )
    assert deliveries(session_factory, "c1") == []
    assert [i["comment_id"] for i in api.get("/v1/reviews", headers=MOD).json()["items"]] == ["c1"]
    # Nothing to undo now; and after the window, nothing was ever sent.
    assert api.post("/v1/reviews/c1/undo", headers=MOD).status_code == 409
    elapse(session_factory, UNDO + 2.2)
    deliver_all(session_factory, redis_conn, undo_settings)
    assert receiver.received == []
    # It can be decided again, and that decision's webhook goes out after its window.
    again = api.post("/v1/reviews/c1/decision", json={"action": "approve"}, headers=MOD)
    assert again.status_code == 201, again.text


def test_after_the_window_undo_is_409_and_the_webhook_is_sent(
    api, session_factory, undo_settings, redis_conn, receiver
):
    add_comment(session_factory, "c1")
    r = api.post(
        "/v1/reviews/c1/decision", json={"action": "reject", "reason_code": "spam"}, headers=MOD
    )
    assert r.status_code == 201, r.text
    elapse(session_factory, UNDO + 0.1)
    late = api.post("/v1/reviews/c1/undo", headers=MOD)
    assert late.status_code == 409
    assert "undo window" in late.json()["message"] and "closed" in late.json()["message"]
    with session_factory() as s:
        assert s.get(Comment, ("default", "c1")).status == "rejected"
    # Redis lost the scheduled job (a restart): the sweeper sends it once it is due.
    redis_conn.flushdb()
    swept_early = webhooks.sweep_deliveries(
        session_factory=session_factory, conn=redis_conn, settings=undo_settings, after_seconds=0
    )
    assert swept_early == 0  # still inside the grace after the window
    elapse(session_factory, 2.2)
    redis_conn.delete(webhooks.SWEEP_LOCK)
    swept = webhooks.sweep_deliveries(
        session_factory=session_factory, conn=redis_conn, settings=undo_settings, after_seconds=0
    )
    assert swept == 1
    deliver_all(session_factory, redis_conn, undo_settings)
    assert sent(receiver) == [("comment.decided", "c1", "reject")]
    assert json.loads(receiver.received[0].body)["reason_code"] == "spam"


def test_only_the_moderator_who_decided_may_undo(api, session_factory):
    add_comment(session_factory, "c1")
    assert (
        api.post("/v1/reviews/c1/decision", json={"action": "approve"}, headers=MOD).status_code
        == 201
    )
    other = api.post("/v1/reviews/c1/undo", headers=BOB)
    assert other.status_code == 409
    assert "only the moderator who made it" in other.json()["message"]
    assert api.post("/v1/reviews/nope/undo", headers=MOD).status_code == 404
    # The rules' decision is nobody's to undo.
    add_comment(session_factory, "auto", action="approve")
    assert api.post("/v1/reviews/auto/undo", headers=MOD).status_code == 409
    assert api.post("/v1/reviews/c1/undo", headers=MOD).status_code == 200


def test_bulk_reject_decides_each_comment_and_each_can_be_undone(
    api, session_factory, undo_settings, redis_conn, receiver
):
    for cid in ("b1", "b2", "b3"):
        add_comment(session_factory, cid, author="troll")
    add_comment(session_factory, "mine-elsewhere", author="troll", action="approve")
    add_comment(session_factory, "held", author="u2")
    assert api.post("/v1/reviews/held/claim", headers=BOB).status_code == 200
    r = api.post(
        "/v1/reviews/bulk-decision",
        json={"comment_ids": ["b1", "b2", "held", "nope", "b1"], "action": "reject",
              "reason_code": "abuse"},
        headers=MOD,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(x["comment_id"], x["outcome"]) for x in body["results"]] == [
        ("b1", "decided"), ("b2", "decided"), ("held", "conflict"), ("nope", "not_found"),
    ]  # fmt: skip
    assert body["decided"] == 2 and body["undo_seconds"] == UNDO
    assert body["results"][0]["decision"]["reason_code"] == "abuse"
    assert "bob" in body["results"][2]["message"]
    with session_factory() as s:
        bulk_rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "review.decide")).all()
        assert sorted(a.subject_id for a in bulk_rows) == ["b1", "b2"]
        assert {a.detail["bulk"] for a in bulk_rows} == {body["bulk_id"]}
    # The author's remaining open reviews, in one call.
    by_author = api.post(
        "/v1/reviews/bulk-decision", json={"author_id": "troll", "action": "reject"}, headers=MOD
    )
    assert [(x["comment_id"], x["outcome"]) for x in by_author.json()["results"]] == [
        ("b3", "decided")
    ]
    assert api.post("/v1/reviews/b2/undo", headers=MOD).status_code == 200
    bad = api.post("/v1/reviews/bulk-decision", json={"action": "reject"}, headers=MOD)
    assert bad.status_code == 422
    too_many = api.post(
        "/v1/reviews/bulk-decision",
        json={"comment_ids": [f"c{n}" for n in range(101)], "action": "approve"},
        headers=MOD,
    )
    assert too_many.status_code == 422
    elapse(session_factory, UNDO + 2.2)
    deliver_all(session_factory, redis_conn, undo_settings)
    assert sorted(sent(receiver)) == [
        ("comment.decided", "b1", "reject"),
        ("comment.decided", "b3", "reject"),
    ]
