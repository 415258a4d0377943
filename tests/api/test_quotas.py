"""Quotas per key through the API (real Redis, one bucket per key shared by every API
process): a burst, then 429 with Retry-After and a message that names the quota; other keys
unaffected; a site's own quota and a key's own quota come before the deployment's; a refused
request writes nothing."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moderation.auth import Role
from moderation.db import Comment, Site, all_sites_session
from moderation.keys import create_key
from tests.conftest import API_KEYS_SPEC, auth, usual_settings

ARTICLE = {"title": "Budget", "body": "The council passed the budget."}


def app_with(database_url, tmp_path, **overrides):
    from moderation.api.main import create_app

    return create_app(usual_settings(database_url, tmp_path / "var", **overrides))


def test_a_burst_then_429_with_retry_after_and_other_keys_unaffected(
    database_url, tmp_path, redis_conn, session_factory
):
    app = app_with(database_url, tmp_path, rate_limit_per_second=0.5, rate_limit_burst=3)
    pub = auth("publisher")
    with TestClient(app) as client:
        assert client.put("/v1/articles/a1", json=ARTICLE, headers=pub).status_code == 201
        for i in range(2):
            body = {"id": f"c{i}", "article_id": "a1", "text": "ok", "author": {"id": "u"}}
            assert client.post("/v1/comments", json=body, headers=pub).status_code == 202
        body = {"id": "c9", "article_id": "a1", "text": "one too many", "author": {"id": "u"}}
        refused = client.post("/v1/comments", json=body, headers=pub)
        assert refused.status_code == 429, refused.text
        retry = int(refused.headers["retry-after"])
        assert 1 <= retry <= 2  # a token every 2 s
        message = refused.json()["message"]
        assert message.startswith("this key's quota of 3 requests at once, refilled at 0.5 a ")
        assert "retry in" in message and API_KEYS_SPEC.split(":")[1] not in message
        # Nothing of the refused request was written.
        with all_sites_session(session_factory) as s:
            assert s.scalar(select(func.count()).select_from(Comment)) == 2
        # Each key has its own bucket.
        assert client.get("/v1/reviews", headers=auth("moderator")).status_code == 200


def test_a_sites_quota_and_a_keys_own_come_before_the_deployments(
    database_url, tmp_path, redis_conn, session_factory
):
    with all_sites_session(session_factory) as s:
        s.add(Site(id="daily-news", name="Daily", community_ids=[], requests_per_second=1.0,
                   burst=2))  # fmt: skip
        s.flush()
        roomy = create_key(s, role=Role.PUBLISHER, site_id="daily-news", name="roomy",
                           actor="t", requests_per_second=100.0, burst=50)  # fmt: skip
        tight = create_key(s, role=Role.PUBLISHER, site_id="daily-news", name="tight", actor="t")
        s.commit()
    app = app_with(database_url, tmp_path)  # no deployment-wide quota
    with TestClient(app) as client:
        tight_h = {"Authorization": f"Bearer {tight.key}"}
        roomy_h = {"Authorization": f"Bearer {roomy.key}"}
        statuses = [client.get("/v1/articles/x", headers=tight_h).status_code for _ in range(3)]
        assert statuses == [404, 404, 429]  # the site's burst of 2
        assert all(
            client.get("/v1/articles/x", headers=roomy_h).status_code == 404 for _ in range(20)
        )
        # The default site has no quota here: its key is never refused.
        assert all(
            client.get("/v1/articles/x", headers=auth("publisher")).status_code == 404
            for _ in range(20)
        )


def test_retry_after_is_long_enough(database_url, tmp_path, redis_conn):
    app = app_with(database_url, tmp_path, rate_limit_per_second=0.25, rate_limit_burst=1)
    with TestClient(app) as client:
        assert client.get("/v1/articles/x", headers=auth("publisher")).status_code == 404
        refused = client.get("/v1/articles/x", headers=auth("publisher"))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) == math.ceil(4 - 0.0)  # 1 token each 4 s
