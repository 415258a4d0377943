"""``moderation sites|keys|authors`` on a real database: a site made and changed, keys
shown once and stored as digests, revoked keys refused by a running app, an author
forgotten everywhere with the audit log saying so (and nothing of whom)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from moderation import cli
from moderation.auth import key_digest
from moderation.db import ApiKey, AuditEntry, Comment, Site, all_sites_session
from moderation.settings import get_settings
from tests.conftest import ROOT, auth


@pytest.fixture
def on_database(settings, monkeypatch):
    monkeypatch.setenv("MODERATION_DATABASE_URL", settings.effective_database_url)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_site_is_made_changed_and_listed(on_database, session_factory, capsys):
    code, out, _ = run(
        capsys, "sites", "create", "daily-news", "--name", "The Daily News",
        "--webhook-url", "https://daily.example/hooks", "--webhook-secret", "s3cret-s3cret",
        "--community-id", "daily-comments", "--requests-per-second", "5", "--burst", "10",
        "--retention-days", "90", "--rules", str(ROOT / "rules" / "default.yaml"),
    )  # fmt: skip
    assert code == 0, out
    shown = json.loads(out)
    assert shown["webhook_secret"] == "set" and "s3cret" not in out
    assert shown["community_ids"] == ["daily-comments"] and shown["retention_days"] == 90
    code, out, _ = run(capsys, "sites", "update", "daily-news", "--clear", "retention_days")
    assert code == 0 and json.loads(out)["retention_days"] is None
    code, out, _ = run(capsys, "sites", "list", "--json")
    assert [s["id"] for s in json.loads(out)] == ["daily-news", "default"]
    with all_sites_session(session_factory) as s:
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.site_id == "daily-news")
        ).all()
        assert actions == ["site.created", "site.updated"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sites", "create", "Daily News"], "lower-case letters, digits and inner hyphens"),
        (["sites", "create", "default"], "site 'default' already exists"),
        (["sites", "create", "x", "--webhook-url", "ftp://x"], "is not an http:// or https://"),
        (["sites", "create", "x", "--rules", "/nope.yaml"], "--rules '/nope.yaml': no such file"),
        (["sites", "create", "x", "--retention-days", "0"], "--retention-days must be at least 1"),
        (["sites", "update", "nope", "--name", "N"], "site 'nope'"),
        (["sites", "update", "default", "--clear", "colour"], "--clear colour: not a site setting"),
        (["keys", "create", "--role", "publisher"], "a publisher key belongs to a site"),
        (["keys", "create", "--role", "operator", "--site", "default"], "works on every site"),
        (["keys", "create", "--role", "admin", "--site", "nope"], "site 'nope'"),
        (["keys", "revoke", "999"], "key '999'"),
        (["authors", "forget", "nope", "u1"], "site 'nope'"),
    ],
)
def test_each_mistake_is_named_and_changes_nothing(on_database, session_factory, capsys, argv,
                                                   message):  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert code == 1 and message in err, err
    with all_sites_session(session_factory) as s:
        assert s.scalars(select(Site.id)).all() == ["default"]
        assert s.scalars(select(ApiKey.id)).all() == []


def test_a_key_is_shown_once_stored_as_a_digest_and_revoked_everywhere(
    on_database, session_factory, capsys, redis_conn
):
    from moderation.api.main import create_app

    code, out, _ = run(capsys, "keys", "create", "--role", "publisher", "--site", "default",
                       "--name", "cms")  # fmt: skip
    assert code == 0
    key = out.splitlines()[1]
    assert len(key) >= 40 and "cannot be shown again" in out
    with all_sites_session(session_factory) as s:
        row = s.scalars(select(ApiKey)).one()
        assert row.key_hash == key_digest(key) and row.prefix == key[:6]
        assert key not in {row.key_hash, row.name, row.prefix}
    code, out, _ = run(capsys, "keys", "list")
    assert "cms" in out and key not in out and "active" in out

    app = create_app(on_database)
    with TestClient(app) as client:
        bearer = {"Authorization": f"Bearer {key}"}
        article = {"title": "t", "body": "b"}
        assert client.put("/v1/articles/a1", json=article, headers=bearer).status_code == 201
        code, out, _ = run(capsys, "keys", "revoke", str(row.id))
        assert code == 0 and "revoked" in out
        app.state.sites.refresh()  # what every process does within DIRECTORY_TTL_SECONDS
        r = client.put("/v1/articles/a1", json=article, headers=bearer)
        assert r.status_code == 401 and r.json()["message"] == "unknown API key"
        # The environment's keys are untouched.
        assert client.get("/v1/articles/a1", headers=auth("publisher")).status_code == 200


def test_forgetting_an_author_erases_text_and_identity_and_audits_that_it_happened(
    on_database, client, session_factory, capsys
):
    pub, mod = auth("publisher"), auth("moderator")
    assert client.put("/v1/articles/a1", json={"title": "t", "body": "b"},
                      headers=pub).status_code == 201  # fmt: skip
    for cid, author in (("c1", "alice"), ("c2", "alice"), ("c3", "bob")):
        body = {"id": cid, "article_id": "a1", "text": f"Text of {cid} by {author}.",
                "author": {"id": author, "name": author.title()}}  # fmt: skip
        assert client.post("/v1/comments", json=body, headers=pub).status_code == 202
    report = {"reporter_id": "alice", "reason": "spam", "note": "alice's note"}
    assert client.post("/v1/comments/c3/reports", json=report, headers=pub).status_code == 201
    assert client.post("/v1/authors/alice/notes", json={"text": "watch her"},
                       headers=mod).status_code == 201  # fmt: skip
    code, out, _ = run(capsys, "authors", "forget", "default", "alice")
    assert code == 0 and "comments 2" in out and "alice" not in out
    with all_sites_session(session_factory) as s:
        rows = {c.id: c for c in s.scalars(select(Comment))}
        assert rows["c1"].text == rows["c2"].text == "" and rows["c3"].text.startswith("Text")
        pseudonym = rows["c1"].author_id
        assert pseudonym.startswith("erased-") and rows["c2"].author_id == pseudonym
        assert rows["c1"].author_name is None and rows["c1"].text_erased_at is not None
        everything = json.dumps(
            [
                [e.subject_id, e.detail, e.actor]
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
            ]
        )
        assert "alice" not in everything.lower() and "watch her" not in everything
        erased = s.scalars(select(AuditEntry).where(AuditEntry.action == "author.erased")).one()
        assert erased.actor.startswith("cli") and erased.detail["comments"] == 2
    r = client.get(f"/v1/authors/{pseudonym}", headers=mod).json()
    assert r["notes"] == [] and r["status"] == "normal"
    reports = client.get("/v1/comments/c3/reports", headers=mod).json()
    assert [r["reporter_id"] for r in reports["items"]] == [pseudonym]
