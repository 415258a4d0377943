"""Migration 0007 moves a single-site database (as the release before sites made it, at
revision 0006) into the ``default`` site without losing a row, on SQLite and PostgreSQL;
the service then works on it as before, and a second site may reuse its ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi.testclient import TestClient

from moderation.db import Comment, Decision, make_engine, site_session, upgrade
from moderation.db.migrate import current_revision, downgrade
from moderation.db.models import Site
from tests.conftest import auth, usual_settings

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ROWS_PER_TABLE = {
    "articles": 1, "article_features": 1, "comments": 3, "scores": 2, "decisions": 3,
    "comment_reports": 1, "authors": 1, "author_notes": 1, "audit_log": 2, "review_claims": 1,
    "webhook_deliveries": 2, "webhook_attempts": 1, "perspective_requests": 1,
    "perspective_suggestions": 1, "rules_versions": 1,
}  # fmt: skip


def empty_database(database_url: str) -> sa.Engine:
    """``database_url`` with nothing in it (the fixture migrated it to head)."""
    engine = make_engine(database_url)
    downgrade(engine, "base")
    return engine


def fill_release_0006(engine: sa.Engine) -> None:
    """Rows in every table, written through the tables as revision 0006 has them."""
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:

        def put(name: str, *rows: dict) -> None:
            for row in rows:  # one by one: rows name different columns
                conn.execute(t[name].insert(), row)

        put(
            "articles",
            {
                "id": "a1",
                "title": "Budget",
                "body": "The council passed it.",
                "tags": [],
                "content_hash": "h",
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
        put(
            "article_features",
            {
                "article_id": "a1",
                "scorer": "relevance",
                "content_hash": "h",
                "data": b"\x00\x01",
                "created_at": NOW,
            },
        )
        base = {
            "article_id": "a1",
            "content_hash": "x",
            "created_at": NOW,
            "received_at": NOW,
            "scoring_attempts": 1,
        }
        put(
            "comments",
            {**base, "id": "c1", "author_id": "u1", "text": "Fine point.", "status": "approved"},
            {**base, "id": "c2", "author_id": "u1", "text": "Idiot.", "status": "escalated"},
            {
                **base,
                "id": "c3",
                "author_id": "u2",
                "text": "Reply.",
                "status": "rejected",
                "parent_id": "c1",
            },
        )
        put(
            "scores",
            {
                "comment_id": "c2",
                "name": "toxicity",
                "value": 0.8,
                "evidence": {"spans": [[0, 5, 0.8]]},
                "scored_at": NOW,
            },
            {"comment_id": "c2", "name": "relevance", "value": 0.4, "scored_at": NOW},
        )
        decision = {
            "decided_by": "rules",
            "reasons": [{"rule": "r", "message": "m"}],
            "labels": [],
            "priority": 0,
            "decided_at": NOW,
        }
        put(
            "decisions",
            {**decision, "comment_id": "c1", "action": "approve"},
            {**decision, "comment_id": "c2", "action": "escalate", "priority": 40},
            {**decision, "comment_id": "c3", "action": "reject", "reason_code": "abuse"},
        )
        put(
            "comment_reports",
            {"comment_id": "c1", "reporter_id": "r1", "reason": "spam", "created_at": NOW},
        )
        put("authors", {"id": "u1", "status": "premoderated", "created_at": NOW})
        put("author_notes", {"author_id": "u1", "moderator": "ann", "text": "n", "created_at": NOW})
        put(
            "audit_log",
            {
                "at": NOW,
                "actor": "publisher",
                "action": "comment.received",
                "subject_type": "comment",
                "subject_id": "c1",
            },
            {
                "at": NOW,
                "actor": "ann",
                "action": "author.status",
                "subject_type": "author",
                "subject_id": "u1",
            },
        )
        put(
            "review_claims",
            {"comment_id": "c2", "moderator": "ann", "claimed_at": NOW, "expires_at": NOW},
        )
        delivery = {
            "url": "https://example.org/hook",
            "body": b"{}",
            "status": "delivered",
            "attempts": 1,
            "created_at": NOW,
        }
        put(
            "webhook_deliveries",
            {**delivery, "id": "d1", "event": "comment.decided", "comment_id": "c1"},
            {**delivery, "id": "d2", "event": "author.updated", "author_id": "u1"},
        )
        put(
            "webhook_attempts",
            {"delivery_id": "d1", "number": 1, "at": NOW, "status_code": 200, "duration_ms": 12.5},
        )
        put(
            "perspective_requests",
            {
                "received_at": NOW,
                "key_name": "k",
                "text": "t",
                "text_type": "PLAIN_TEXT",
                "languages": [],
                "scores": {},
                "attribute_scores": {},
            },
        )
        put(
            "perspective_suggestions",
            {
                "received_at": NOW,
                "key_name": "k",
                "attribute": "TOXICITY",
                "value": 1.0,
                "languages": [],
            },
        )
        put("rules_versions", {"hash": "v" * 64, "source": "rules/default.yaml",
                               "content": "rules: []", "first_active_at": NOW})  # fmt: skip


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in ROWS_PER_TABLE
        }


def test_a_database_of_the_release_before_sites_keeps_every_row_in_the_default_site(
    database_url, tmp_path, redis_conn
):
    engine = empty_database(database_url)
    upgrade(engine, "0006")
    fill_release_0006(engine)
    assert counts(engine) == ROWS_PER_TABLE

    upgrade(engine)
    assert current_revision(engine) == "0007"
    assert counts(engine) == ROWS_PER_TABLE
    with engine.connect() as conn:
        for name in ROWS_PER_TABLE:
            if name in {"webhook_attempts", "rules_versions"}:
                continue  # keyed by their delivery / their content, not by a site
            sites = conn.execute(sa.text(f"SELECT DISTINCT site_id FROM {name}")).scalars().all()
            assert sites == ["default"], name
        assert conn.execute(sa.text("SELECT id FROM sites")).scalars().all() == ["default"]

    # The service reads the moved rows with the keys it had (no site: the default one).
    app_settings = usual_settings(database_url, tmp_path / "var")
    from moderation.api.main import create_app

    with TestClient(create_app(app_settings)) as client:
        c2 = client.get("/v1/comments/c2", headers=auth("publisher")).json()
        assert c2["status"] == "escalated" and c2["scores"]["toxicity"] == 0.8
        queue = client.get("/v1/reviews", headers=auth("moderator")).json()
        assert [r["comment_id"] for r in queue["items"]] == ["c2"]
        author = client.get("/v1/authors/u1", headers=auth("moderator")).json()
        assert author["status"] == "premoderated"

    # A second site reuses the ids; each site keeps its own rows.
    factory = sa.orm.sessionmaker(engine)
    with site_session(factory, "daily-news") as s:
        s.add(Site(id="daily-news", name="Daily", community_ids=[]))
        s.flush()
        from moderation.db import Article

        s.add(Article(id="a1", title="Other", body="b", content_hash="h", tags=[]))
        s.flush()
        s.add(Comment(id="c1", article_id="a1", author_id="u9", text="Other site's c1.",
                      content_hash="o", created_at=NOW))  # fmt: skip
        s.flush()
        s.add(Decision(comment_id="c1", action="reject", decided_by="rules", reasons=[]))
        s.commit()
    with site_session(factory, "default") as s:
        assert s.get(Comment, ("default", "c1")).text == "Fine point."
    engine.dispose()


def test_going_back_below_sites_refuses_while_another_site_has_rows(database_url):
    engine = make_engine(database_url)
    factory = sa.orm.sessionmaker(engine)
    with site_session(factory, "daily-news") as s:
        s.add(Site(id="daily-news", name="Daily", community_ids=[]))
        s.commit()
        from moderation.db import AuditEntry

        s.add(AuditEntry(actor="t", action="x", subject_type="site", subject_id="daily-news"))
        s.commit()
    import pytest

    with pytest.raises(RuntimeError, match="rows of sites other than 'default' in audit_log"):
        downgrade(engine, "0006")
    assert current_revision(engine) == "0007"
    assert json.dumps(counts(engine))  # nothing was touched
    engine.dispose()
