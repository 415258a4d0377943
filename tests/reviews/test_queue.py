"""The read model: batched author histories, the sort orders, a moderator's queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from moderation import reviews
from moderation.db import Comment
from moderation.db.models import ReviewStatus, utcnow
from moderation.reviews import SORT_ORDERS, Review, Sort, SortField
from tests.reviews._support import seed_reviews

FIELD_VALUE = {
    SortField.PRIORITY: lambda r: r.priority,
    SortField.ESCALATED_AT: lambda r: r.escalated_at,
    SortField.TOXICITY: lambda r: r.scores.get("toxicity", -1.0),
    SortField.COMMENT_ID: lambda r: r.comment_id,
}


def sorted_by_table(items: list[Review], sort: Sort) -> list[str]:
    """The order ``SORT_ORDERS`` defines, computed in Python (stable sorts, last key first)."""
    out = list(items)
    for key in reversed(SORT_ORDERS[sort]):
        out.sort(key=FIELD_VALUE[key.field], reverse=key.descending)
    return [r.comment_id for r in out]


def naive_history(s, comment: Comment) -> dict:
    """What the review showed before batching: per comment, two queries."""
    others = (Comment.author_id == comment.author_id, Comment.id != comment.id)
    counts = dict(
        s.execute(
            select(Comment.status, func.count(Comment.id)).where(*others).group_by(Comment.status)
        )
        .tuples()
        .all()
    )
    recent = s.scalars(
        select(Comment).where(*others).order_by(Comment.created_at.desc(), Comment.id).limit(5)
    ).all()
    return {
        "approved": counts.get("approved", 0),
        "rejected": counts.get("rejected", 0),
        "escalated": counts.get("escalated", 0),
        "total": sum(counts.values()),
        "recent": [c.id for c in recent],
    }


def test_batched_author_histories_match_the_per_comment_queries(session_factory):
    seed_reviews(session_factory, 12)
    with session_factory() as s:
        comments = s.scalars(select(Comment).order_by(Comment.id)).all()
        histories = reviews.author_histories(s, comments)
        assert len(histories) == len(comments) == 72
        for c in comments:
            h = histories[c.id]
            got = {
                "approved": h.approved,
                "rejected": h.rejected,
                "escalated": h.escalated,
                "total": h.total,
                "recent": [r.id for r in h.recent],
            }
            assert got == naive_history(s, c), c.id


@pytest.mark.parametrize("sort", list(Sort))
def test_pages_follow_the_sort_table(session_factory, sort):
    seed_reviews(session_factory, 15)
    with session_factory() as s:
        everything = reviews.list_reviews(s, sort=sort, limit=200).items
        seen: list[str] = []
        cursor = None
        while True:
            page = reviews.list_reviews(s, sort=sort, cursor=cursor, limit=4)
            seen += [r.comment_id for r in page.items]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    assert len(everything) == 15
    assert [r.comment_id for r in everything] == sorted_by_table(everything, sort) == seen


def test_a_moderators_queue_has_the_first_open_reviews_and_all_they_hold(session_factory):
    seed_reviews(session_factory, 10)  # c0..c9 held by m0, m1, m2 in turn
    with session_factory() as s:
        queue = reviews.moderator_queue(s, moderator="m1", limit=4)
        first_open = reviews.list_reviews(s, status=ReviewStatus.OPEN, limit=4).items
        held = [f"c{i}" for i in range(10) if i % 3 == 1]
        ids = [r.comment_id for r in queue]
        assert sorted(ids) == sorted([r.comment_id for r in first_open] + held)
        assert ids == sorted_by_table(queue, Sort.PRIORITY)
        assert {r.claim.moderator for r in queue if r.claim} == {"m1"}
        on_a1 = reviews.moderator_queue(s, moderator="m1", article_id="a1", limit=100)
        assert {r.article.id for r in on_a1} == {"a1"} and "c1" in [r.comment_id for r in on_a1]
        later = reviews.moderator_queue(s, moderator="m1", now=utcnow() + timedelta(hours=1))
        assert all(r.claim is None for r in later)  # every lease has run out by then
        assert reviews.counters(s) == reviews.QueueCounters(open=10, claimed=10, decided_today=10)
