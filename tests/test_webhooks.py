"""Signing: what a publisher checks, computed the way the README tells them to; and one
attempt's bookkeeping (a compare-and-set, so a re-run never records twice)."""

from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import select

from moderation import webhooks
from moderation.comments import get_comment
from moderation.db import DecidedBy
from moderation.db.models import Comment, Decision, WebhookDelivery
from moderation.decisions import record_decision
from tests.api.test_reviews import add_comment
from tests.receiver import Receiver


def test_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"event":"comment.decided","comment_id":"c1"}'
    expected = hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
    assert webhooks.sign(body, "topsecret") == f"sha256={expected}"
    assert webhooks.verify(body, "topsecret", f"sha256={expected}")
    assert not webhooks.verify(body + b" ", "topsecret", f"sha256={expected}")
    assert not webhooks.verify(body, "other", f"sha256={expected}")


def test_payload_has_the_documented_fields():
    comment = Comment(id="c1", article_id="a1")
    decided_at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    decision = Decision(
        comment_id="c1", action="reject", decided_by="moderator", rules_version="v" * 64,
        reasons=[{"rule": "moderator", "message": "rejected by moderator alice"}],
        decided_at=decided_at,
    )  # fmt: skip
    data = webhooks.payload(comment, decision)
    assert data == {
        "event": "comment.decided",
        "comment_id": "c1",
        "article_id": "a1",
        "action": "reject",
        "decided_by": "moderator",
        "reasons": [{"rule": "moderator", "message": "rejected by moderator alice"}],
        "rules_version": "v" * 64,
        "decided_at": "2026-11-28T12:00:00Z",
        "reason_code": "other",
        "reason_text": "Your comment was removed because it breaks our comment rules.",
    }
    decision.action = "escalate"
    assert webhooks.payload(comment, decision)["event"] == "comment.escalated"
    json.dumps(data)


# --- one attempt, run twice at once: both send the same, one is recorded ---------------------


def _recorded_delivery(session_factory, url: str) -> str:
    add_comment(session_factory, "c1", action=None)
    with session_factory() as s:
        record_decision(
            session=s, comment=get_comment(s, "c1"), action="reject", decided_by=DecidedBy.RULES,
            reasons=[], rules_version="r1", webhook_url=url,
        )  # fmt: skip
        s.commit()
        return str(s.scalar(select(WebhookDelivery.id)))


def test_two_runs_of_one_attempt_send_the_same_bytes_and_record_it_once(session_factory, settings):
    """A duplicate job (or one re-run after its worker died) overlapping the first: both POST
    the same id, body and signature; the compare-and-set records the attempt once."""
    hook_settings = settings.model_copy(update={"webhook_secret": "s3cret"})
    with Receiver(hold=True) as receiver:
        delivery_id = _recorded_delivery(session_factory, receiver.url)

        def attempt() -> webhooks.AttemptResult | None:
            return webhooks.deliver(
                session_factory=session_factory, conn=None, settings=hook_settings,
                delivery_id=delivery_id,
            )  # fmt: skip

        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(attempt), pool.submit(attempt)]
            receiver.wait_for(lambda r: len(receiver.received) == 2, timeout=20)  # both held
            receiver.release()
            results = [run.result(timeout=20) for run in runs]
        got = list(receiver.received)
    assert sorted(r is None for r in results) == [False, True]
    [recorded] = [r for r in results if r is not None]
    assert recorded.number == 1 and recorded.delivered and recorded.status_code == 200
    assert len({(r.body, r.headers["x-moderation-delivery"]) for r in got}) == 1
    assert len({r.headers["x-moderation-signature"] for r in got}) == 1
    assert webhooks.verify(got[0].body, "s3cret", got[0].headers["x-moderation-signature"])
    with session_factory() as s:
        delivery = webhooks.get_delivery(s, delivery_id)
        assert delivery.status == "delivered" and delivery.attempts == 1
        assert [(a.number, a.status_code) for a in delivery.attempt_log] == [(1, 200)]


def test_a_delivery_given_up_is_not_sent_by_a_late_job(session_factory, settings):
    with Receiver(fail_first=100) as receiver:
        delivery_id = _recorded_delivery(session_factory, receiver.url)
        one_try = settings.model_copy(update={"webhook_retry_intervals": ""})
        kwargs = {"session_factory": session_factory, "conn": None, "settings": one_try}
        first = webhooks.deliver(delivery_id=delivery_id, **kwargs)
        assert first is not None and first.retry_in is None and first.error == "HTTP 503"
        assert webhooks.deliver(delivery_id=delivery_id, **kwargs) is None
        assert webhooks.deliver(delivery_id="dlv_unknown", **kwargs) is None
        assert len(receiver.received) == 1
    with session_factory() as s:
        assert webhooks.get_delivery(s, delivery_id).status == "failed"
