"""Author history counted for many comments at once gives the per-comment counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from moderation.db.models import Article, Comment
from moderation.decisions import author_histories, author_history
from moderation.policy import HistoryQuery

QUERIES = [
    HistoryQuery("rejected", 30),
    HistoryQuery("rejected", None),
    HistoryQuery("approved", 7),
    HistoryQuery("escalated", None),
    HistoryQuery("total", None),
    HistoryQuery("total", 1),
]


def test_one_query_and_the_same_counts_as_one_comment_at_a_time(session_factory):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    statuses = ["approved", "rejected", "escalated", "pending"]
    with session_factory() as s:
        s.add(Article(id="a1", title="t", body="b", content_hash="h", tags=[]))
        s.flush()
        for i in range(120):
            at = t0 + timedelta(days=i % 45, hours=i % 5)
            s.add(Comment(id=f"c{i:03d}", article_id="a1", author_id=f"u{i % 4}", text="x",
                          content_hash="h", status=statuses[i % 4], created_at=at,
                          received_at=at))  # fmt: skip
        s.commit()
        comments = list(s.query(Comment).order_by(Comment.id))
        seen: list[str] = []
        engine = s.get_bind()

        def count(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            batched = author_histories(s, comments, QUERIES)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(seen) == 1
        for q in ([QUERIES[0]], QUERIES[1:3]):  # narrower reads, same answers
            assert author_histories(s, comments, q) == {
                cid: {k: v for k, v in counts.items() if k in q} for cid, counts in batched.items()
            }
        one_by_one = {
            c.id: author_history(s, author_id=c.author_id, before=c.created_at,
                                 exclude_comment_id=c.id, queries=QUERIES)
            for c in comments
        }  # fmt: skip
    assert batched == one_by_one
    assert any(v > 0 for counts in batched.values() for v in counts.values())
