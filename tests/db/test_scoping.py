"""One site per session (moderation/db/scoping.py), on SQLite and PostgreSQL: two sites
may store the same comment id; a site's session never sees, changes or deletes another
site's rows, joins and relationship loads included; new rows take the session's site."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from moderation.db import (
    ALL_SITES,
    Article,
    AuditEntry,
    Comment,
    Decision,
    Site,
    all_sites_session,
    current_site,
    site_session,
)
from moderation.db.models import utcnow
from moderation.db.scoping import in_site


def seed(session_factory, site: str, text: str) -> None:
    with site_session(session_factory, site) as s:
        if s.get(Site, site) is None:
            s.add(Site(id=site, name=site.title(), community_ids=[]))
            s.flush()
        s.add(Article(id="a1", title=f"{site} article", body="b", content_hash="h", tags=[]))
        s.flush()
        s.add(
            Comment(
                id="42", article_id="a1", author_id="u1", text=text, content_hash=text,
                created_at=utcnow(),
            )
        )  # fmt: skip
        s.flush()
        s.add(Decision(comment_id="42", action="approve", decided_by="rules", reasons=[]))
        s.commit()


@pytest.fixture
def two_sites(session_factory):
    seed(session_factory, "default", "Default's comment 42.")
    seed(session_factory, "daily-news", "Daily News' comment 42.")
    return session_factory


def test_the_same_ids_on_two_sites_are_two_rows_each_seen_by_its_own_site(two_sites):
    with site_session(two_sites, "daily-news") as s:
        assert s.get(Comment, in_site(s, "42")).text == "Daily News' comment 42."
        assert s.scalars(select(Comment.text)).all() == ["Daily News' comment 42."]
        # A relationship load and a join stay on the site too.
        comment = s.scalars(select(Comment)).one()
        assert comment.article.title == "daily-news article"
        assert [d.action for d in comment.decisions] == ["approve"]
        joined = s.execute(
            select(Comment.text, Article.title).join(Article, Article.id == Comment.article_id)
        ).all()
        assert joined == [("Daily News' comment 42.", "daily-news article")]
    with site_session(two_sites, "default") as s:
        assert s.scalars(select(Comment.text)).all() == ["Default's comment 42."]
        assert s.scalar(select(func.count()).select_from(Decision)) == 1
    with all_sites_session(two_sites) as s:
        assert sorted(s.scalars(select(Comment.site_id))) == ["daily-news", "default"]
        with pytest.raises(RuntimeError, match="spans every site"):
            current_site(s)


def test_updates_and_deletes_touch_only_the_sessions_site(two_sites):
    with site_session(two_sites, "daily-news") as s:
        changed = s.execute(
            update(Comment).where(Comment.id == "42").values(status="rejected")
        ).rowcount
        assert changed == 1
        s.execute(delete(Decision).where(Decision.comment_id == "42"))
        s.commit()
    with all_sites_session(two_sites) as s:
        rows = dict(s.execute(select(Comment.site_id, Comment.status)).tuples().all())
        assert rows == {"daily-news": "rejected", "default": "pending"}
        assert list(s.scalars(select(Decision.site_id))) == ["default"]


def test_new_rows_take_the_sessions_site_and_a_row_of_another_site_is_refused(two_sites):
    with site_session(two_sites, "daily-news") as s:
        s.add(AuditEntry(actor="t", action="x", subject_type="comment", subject_id="42"))
        s.commit()
        assert s.scalars(select(AuditEntry.site_id)).all() == ["daily-news"]
        s.add(AuditEntry(site_id="default", actor="t", action="x", subject_type="c",
                         subject_id="1"))  # fmt: skip
        with pytest.raises(RuntimeError, match="of site 'default' in a session of 'daily-news'"):
            s.flush()
        s.rollback()
    with all_sites_session(two_sites) as s:
        s.add(AuditEntry(actor="t", action="x", subject_type="comment", subject_id="42"))
        with pytest.raises(RuntimeError, match="without a site in a session over every site"):
            s.flush()
        s.rollback()


def test_a_session_without_a_site_is_the_default_sites(two_sites):
    with two_sites() as s:
        assert current_site(s) == "default"
        assert s.scalars(select(Comment.text)).all() == ["Default's comment 42."]
    assert ALL_SITES == "*"  # not a valid site id: ids are slugs
