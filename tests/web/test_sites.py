"""The /moderate page keeps sites apart: a moderator signed in with site B's key sees B's
queue only, and A's comments are not found for claims, decisions, authors or audit rows;
an operator moderates the site named on the sign-in form, and must name one."""

from __future__ import annotations

from functools import partial

import pytest
from fastapi.testclient import TestClient

from moderation.db import Site, all_sites_session, site_session
from tests.api.test_reviews import add_comment
from tests.conftest import API_KEYS_SPEC, usual_settings
from tests.web.test_pages import form_token, meta_token

A, B = "daily-news", "evening-post"
KEYS = {A: "daily-moderator-key-0123456789", B: "evening-moderator-key-0123456789"}
OPERATOR = "group-operator-key-0123456789"


@pytest.fixture
def page(database_url, tmp_path, redis_conn, session_factory):
    from moderation.api.main import create_app

    with all_sites_session(session_factory) as s:
        s.add_all([Site(id=A, name="Daily", community_ids=[]),
                   Site(id=B, name="Evening", community_ids=[])])  # fmt: skip
        s.commit()
    add_comment(partial(site_session, session_factory, A), "c-a", "Daily's rude comment.")
    add_comment(partial(site_session, session_factory, B), "c-b", "Evening's rude comment.")
    spec = ",".join(
        [API_KEYS_SPEC, f"operator/ops:{OPERATOR}"]
        + [f"moderator@{site}/mod-{site}:{key}" for site, key in KEYS.items()]
    )
    settings = usual_settings(database_url, tmp_path / "var", api_keys=spec)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def sign_in(page: TestClient, key: str, site: str = "") -> int:
    form = page.get("/moderate")
    r = page.post(
        "/moderate/sign-in",
        data={"key": key, "site": site, "csrf_token": form_token(form.text)},
        follow_redirects=False,
    )
    return r.status_code


def test_a_sites_moderator_sees_and_acts_on_that_site_only(page):
    assert sign_in(page, KEYS[B]) == 303
    token = meta_token(page.get("/moderate").text)
    queue = page.get("/moderate/queue.json").json()
    assert [item["comment_id"] for item in queue["items"]] == ["c-b"]
    assert "Daily's rude comment" not in page.get("/moderate/queue.json?q=c-a").text
    headers = {"X-CSRF-Token": token}
    assert page.post("/moderate/reviews/c-a/claim", headers=headers).status_code == 404
    decision = {"action": "approve"}
    r = page.post("/moderate/reviews/c-a/decision", json=decision, headers=headers)
    assert r.status_code == 404
    assert page.get("/moderate/authors/u1.json").json()["counts"]["total"] == 1  # B's u1
    audit = page.get("/moderate/audit.json", params={"comment_id": "c-a"}).json()
    assert audit["items"] == []
    r = page.post("/moderate/reviews/c-b/decision", json=decision, headers=headers)
    assert r.status_code == 201
    # Another site's key cannot sign in to a site it does not belong to.
    page.cookies.clear()
    assert sign_in(page, KEYS[B], site=A) == 403


def test_an_operator_names_the_site_it_moderates(page):
    assert sign_in(page, OPERATOR) == 400
    assert sign_in(page, OPERATOR, site="nowhere") == 404
    assert sign_in(page, OPERATOR, site=A) == 303
    html = page.get("/moderate").text
    assert "ops (operator, daily-news)" in html
    queue = page.get("/moderate/queue.json").json()
    assert [item["comment_id"] for item in queue["items"]] == ["c-a"]
