"""A site's text retention (moderation/erasure.py) on a real database: the comments older
than the site's retention lose their text and the evidence quoting it, keep their scores,
decisions and audit rows; other sites' comments and newer ones are untouched; the purge
runs once an hour across workers."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from sqlalchemy import select

from moderation import erasure
from moderation.db import AuditEntry, Comment, Decision, Score, Site, all_sites_session
from moderation.db.models import PerspectiveRequest, utcnow
from moderation.db.scoping import site_session
from tests.api.test_reviews import add_comment


def age(session_factory, site: str, comment_id: str, days: int) -> None:
    with site_session(session_factory, site) as s:
        comment = s.get(Comment, (site, comment_id))
        comment.received_at = utcnow() - timedelta(days=days)
        s.commit()


def test_old_text_goes_scores_decisions_and_audit_stay(session_factory, redis_conn):
    with all_sites_session(session_factory) as s:
        s.add(Site(id="daily-news", name="Daily", community_ids=[], retention_days=30))
        s.commit()
    for site in ("daily-news", "default"):
        factory = partial(site_session, session_factory, site)
        add_comment(factory, "old", "An old comment naming someone@example.org.")
        add_comment(factory, "new", "A recent comment.")
        age(session_factory, site, "old", 45)
    with site_session(session_factory, "daily-news") as s:
        s.add(PerspectiveRequest(key_name="k", text="old perspective text", text_type="PLAIN",
                                 languages=[], scores={}, attribute_scores={},
                                 received_at=utcnow() - timedelta(days=40)))  # fmt: skip
        s.commit()

    assert erasure.purge_if_due(session_factory, redis_conn) == {"daily-news": 1}
    assert erasure.purge_if_due(session_factory, redis_conn) == {}  # once an hour

    with all_sites_session(session_factory) as s:
        rows = {(c.site_id, c.id): c for c in s.scalars(select(Comment))}
        old = rows["daily-news", "old"]
        assert old.text == "" and old.text_erased_at is not None
        assert rows["daily-news", "new"].text == "A recent comment."
        assert rows["default", "old"].text.startswith("An old comment")  # no retention there
        scores = {(x.site_id, x.comment_id, x.name): x for x in s.scalars(select(Score))}
        assert scores["daily-news", "old", "toxicity"].value == 0.5
        assert scores["daily-news", "old", "toxicity"].evidence is None
        assert scores["default", "old", "toxicity"].evidence is not None
        assert s.scalars(
            select(Decision.action).where(Decision.site_id == "daily-news",
                                          Decision.comment_id == "old")
        ).all() == ["escalate"]  # fmt: skip
        assert s.scalars(
            select(AuditEntry.action).where(AuditEntry.site_id == "daily-news",
                                            AuditEntry.subject_id == "old")
        ).all()  # fmt: skip
        assert s.scalars(select(PerspectiveRequest.text)).all() == [""]
