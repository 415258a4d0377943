"""moderation.web.events: what the /moderate page's event stream sends (the stream itself
runs against a real server in tests/e2e/test_moderate_page_authors.py)."""

from __future__ import annotations

from moderation import reviews
from moderation.web.events import Cursor, changes, latest
from tests.api.test_reviews import add_comment


def test_a_stream_sends_escalations_and_others_actions_not_mine(session_factory):
    add_comment(session_factory, "old")
    with session_factory() as s:
        start = latest(s)
    add_comment(session_factory, "c1")  # an escalation by the rules
    add_comment(session_factory, "c2")
    add_comment(session_factory, "p1", action="approve")  # the rules' approval: not news here
    with session_factory() as s:
        reviews.claim(session=s, comment_id="c1", moderator="bob", lease_seconds=60)
        reviews.claim(session=s, comment_id="c2", moderator="me", lease_seconds=60)
    with session_factory() as s:
        events, cursor = changes(s, start, moderator="me")
    assert [(e.kind, e.data.get("comment_id") or e.data.get("subject_id")) for e in events] == [
        ("escalated", "c1"),
        ("escalated", "c2"),
        ("changed", "c1"),  # bob's claim; mine on c2 is left out
    ]
    assert events[2].data == {
        "subject_type": "comment", "subject_id": "c1", "action": "review.claim", "actor": "bob",
    }  # fmt: skip
    with session_factory() as s:
        again, same = changes(s, cursor, moderator="me")
        assert again == [] and same == cursor == latest(s)


def test_the_cursor_is_the_event_id_and_resumes_a_stream():
    assert str(Cursor(12, 34)) == "d12.a34"
    assert Cursor.parse("d12.a34") == Cursor(12, 34)
    for bad in (None, "", "d12", "x", "d1.a2.a3", "d-1.a2"):
        assert Cursor.parse(bad) is None
