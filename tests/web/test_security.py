"""The /moderate page's sessions over HTTP: signing out ends the session server-side (a copied
cookie stops working), signing in always makes a new session (a planted id never becomes
one), every state-changing request needs the session's CSRF token, and a Redis that does
not answer is a 503 with Retry-After. The browser's side is in tests/e2e/test_moderate_page.py.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from moderation.db import Comment
from moderation.db.models import ReviewClaim
from moderation.web.session import SESSION_KEY_PREFIX, SESSION_MAX_AGE
from tests.api.test_reviews import add_comment
from tests.conftest import API_KEYS
from tests.e2e.conftest import free_port

from .test_pages import form_token, meta_token, sign_in

BASE_URL = "http://127.0.0.1"


@pytest.fixture
def app(settings):
    from moderation.api.main import create_app

    return create_app(settings)


@pytest.fixture
def page(app):
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def browser(app) -> TestClient:
    """Another browser on the same server (cookies of its own)."""
    return TestClient(app, base_url=BASE_URL)


def session_cookie(response) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("moderate_session="):
            return header.split(";")[0].split("=", 1)[1]
    raise AssertionError(f"no session cookie in {response.headers.get_list('set-cookie')}")


def session_id(cookie: str) -> str:
    raw = cookie.rpartition(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return str(payload["c"])


def with_cookie(app, cookie: str) -> TestClient:
    """A client that presents only this session cookie (a copy of someone else's)."""
    client = browser(app)
    client.cookies.set("moderate_session", cookie, domain="127.0.0.1", path="/moderate")
    return client


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(app, page, session_factory):
    add_comment(session_factory, "c1")
    cookie = session_cookie(sign_in(page))
    token = meta_token(page.get("/moderate").text)
    with with_cookie(app, cookie) as thief:
        assert thief.get("/moderate/queue.json").status_code == 200  # a working copy
        out = page.post("/moderate/sign-out", data={"csrf_token": token}, follow_redirects=False)
        assert out.status_code == 303
        assert 'moderate_session=""' in out.headers["set-cookie"]
        queue = thief.get("/moderate/queue.json")
        assert queue.status_code == 401
        assert queue.json()["message"] == "not signed in; sign in at /moderate"
        assert "Moderator key" in thief.get("/moderate").text  # the sign-in form, not the queue
        decide = thief.post(
            "/moderate/reviews/c1/decision",
            json={"action": "approve"},
            headers={"X-CSRF-Token": token},
        )
        assert decide.status_code == 401
    with session_factory() as s:
        assert s.get(Comment, ("default", "c1")).status == "escalated"


def test_ids_planted_before_sign_in_are_replaced_at_sign_in(app, redis_conn):
    # The attacker plants a pre-session id (the form's session before sign-in) and a made-up
    # session cookie in the victim's browser, hoping the sign-in adopts one of them.
    with browser(app) as victim:
        victim.cookies.set("moderate_presession", "chosen-by-attacker", domain="127.0.0.1",
                           path="/moderate")  # fmt: skip
        victim.cookies.set("moderate_session", "made-up.0000", domain="127.0.0.1",
                           path="/moderate")  # fmt: skip
        signed_in = sign_in(victim)
        assert signed_in.status_code == 303
        fresh = session_cookie(signed_in)
        assert "chosen-by-attacker" not in fresh and "made-up" not in fresh
        assert session_id(fresh) not in ("chosen-by-attacker", "made-up")
        assert 'moderate_presession=""' in signed_in.headers["set-cookie"]  # deleted
        queue = victim.get("/moderate/queue.json")
        assert queue.status_code == 200 and queue.json()["moderator"] == "moderator-tester"
    # What the attacker knows gives them nothing.
    with browser(app) as attacker:
        attacker.cookies.set("moderate_presession", "chosen-by-attacker", domain="127.0.0.1",
                             path="/moderate")  # fmt: skip
        assert attacker.get("/moderate/queue.json").status_code == 401
        assert "Moderator key" in attacker.get("/moderate").text
    keys = [k.decode() for k in redis_conn.keys(SESSION_KEY_PREFIX + "*")]
    assert keys == [SESSION_KEY_PREFIX + hashlib.sha256(session_id(fresh).encode()).hexdigest()]


def test_sessions_are_kept_server_side_hashed_and_expiring(page, redis_conn):
    cookie = session_cookie(sign_in(page))
    [key] = redis_conn.keys(SESSION_KEY_PREFIX + "*")
    assert session_id(cookie).encode() not in key and cookie.encode() not in key
    assert 0 < redis_conn.ttl(key) <= SESSION_MAX_AGE
    assert redis_conn.get(key) == b"moderator-tester"


ROUTES = [
    ("/moderate/reviews/c1/claim", None),
    ("/moderate/reviews/c1/release", None),
    ("/moderate/reviews/c1/decision", {"action": "reject"}),
]


@pytest.mark.parametrize("path, body", ROUTES, ids=["claim", "release", "decision"])
def test_every_action_needs_this_sessions_csrf_token(app, page, session_factory, path, body):
    add_comment(session_factory, "c1")
    with browser(app) as other:  # another signed-in moderator's token is no good either
        sign_in(other, key=API_KEYS["admin"])
        others_token = meta_token(other.get("/moderate").text)
    sign_in(page)
    token = meta_token(page.get("/moderate").text)
    assert others_token != token
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": others_token}):
        r = page.post(path, json=body, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert r.json()["message"] == "missing or invalid CSRF token (X-CSRF-Token header)"
    # A form post (what a cross-site page can send) carries no header at all.
    form = page.post(path, data={"action": "reject", "csrf_token": token})
    assert form.status_code == 403
    with session_factory() as s:
        assert s.get(Comment, ("default", "c1")).status == "escalated"
        assert s.scalars(select(ReviewClaim)).all() == []
    assert page.post(path, json=body, headers={"X-CSRF-Token": token}).status_code < 300


def test_a_sign_out_without_a_session_leaves_the_cookie_alone(page):
    # A cross-site form brings no cookie (SameSite=Strict); answering it with a deletion
    # would still sign the moderator's browser out.
    r = page.post("/moderate/sign-out", data={"csrf_token": "guessed"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/moderate"
    assert "moderate_session" not in r.headers.get("set-cookie", "")


def test_sign_out_needs_the_token_and_leaves_the_session_alone_without_it(page):
    sign_in(page)
    for data in ({}, {"csrf_token": "forged"}):
        r = page.post("/moderate/sign-out", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert page.get("/moderate/queue.json").status_code == 200


def test_a_sign_in_that_brings_a_session_along_ends_that_session(app, page):
    first = session_cookie(sign_in(page))
    # A second sign-in from the same browser (a form from another tab) with the session
    # cookie still there: the new session replaces the old one, which stops working.
    with browser(app) as tab:
        form = tab.get("/moderate")
        presession = tab.cookies["moderate_presession"]
    page.cookies.set("moderate_presession", presession, domain="127.0.0.1", path="/moderate")
    again = page.post(
        "/moderate/sign-in",
        data={"key": API_KEYS["admin"], "csrf_token": form_token(form.text)},
        follow_redirects=False,
    )
    second = session_cookie(again)
    assert first != second
    with with_cookie(app, first) as old:
        assert old.get("/moderate/queue.json").status_code == 401
    with with_cookie(app, second) as new:
        assert new.get("/moderate/queue.json").status_code == 200


def test_sessions_cannot_be_checked_without_redis_and_say_so(settings, page):
    from moderation.api.main import create_app

    cookie = session_cookie(sign_in(page))
    port = free_port()  # nothing listens there
    down = create_app(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"}))
    with TestClient(down, base_url=BASE_URL) as client:
        client.cookies.set("moderate_session", cookie, domain="127.0.0.1", path="/moderate")
        for r in (client.get("/moderate/queue.json"), client.get("/moderate")):
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            message = r.json()["message"]
            assert message.startswith("moderator sessions cannot be checked: Redis did not answer")
            assert message.endswith("; retry in 5 s")
        client.cookies.clear()
        form = client.get("/moderate")  # the sign-in form needs no Redis ...
        assert form.status_code == 200
        r = client.post(
            "/moderate/sign-in",
            data={"key": API_KEYS["moderator"], "csrf_token": form_token(form.text)},
            follow_redirects=False,
        )
        assert r.status_code == 503  # ... but a session cannot be made without it
        assert "moderate_session" not in r.headers.get("set-cookie", "")
