"""Signing: what a publisher checks, computed the way the README tells them to."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from moderation import webhooks
from moderation.db.models import Comment, Decision


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
    }
    decision.action = "escalate"
    assert webhooks.payload(comment, decision)["event"] == "comment.escalated"
    json.dumps(data)
