"""The /moderate page over HTTP: sign-in, cookie flags, CSRF, security headers, and the
queue the page polls (a moderator's own claims, a fixed number of queries)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from moderation import reviews
from moderation.db.models import ReviewClaim, utcnow
from tests.api.test_reviews import add_comment
from tests.conftest import API_KEYS
from tests.reviews._support import counting, seed_reviews


@pytest.fixture
def page(settings):
    from moderation.api.main import create_app

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def form_token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def meta_token(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert m, html
    return m.group(1)


def sign_in(page, key=API_KEYS["moderator"]):
    r = page.get("/moderate")
    return page.post(
        "/moderate/sign-in",
        data={"key": key, "csrf_token": form_token(r.text)},
        follow_redirects=False,
    )


def test_sign_in_page_has_a_strict_csp_and_a_csrf_token(page):
    r = page.get("/moderate")
    assert r.status_code == 200 and "Moderator key" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert form_token(r.text)


def test_session_cookie_is_httponly_samesite_strict_and_signed(page):
    r = sign_in(page)
    assert r.status_code == 303 and r.headers["location"] == "/moderate"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("moderate_session="))
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/moderate" in flags
    value = cookie.split(";")[0].split("=", 1)[1]
    assert API_KEYS["moderator"] not in value
    queue = page.get("/moderate")
    assert 'id="queue"' in queue.text and "moderator-tester" in queue.text
    # A tampered cookie is not a session.
    page.cookies.clear()
    # (The MAC is hex at the end; change its last digit, whatever it is: "00" was a no-op
    # for one MAC in 256, which made this test flaky.)
    tampered = value[:-1] + ("1" if value[-1] == "0" else "0")
    page.cookies.set("moderate_session", tampered)
    assert "Moderator key" in page.get("/moderate").text


def test_wrong_key_and_publisher_key_are_refused(page):
    r = sign_in(page, key="not-a-key-at-all-0123456789")
    assert r.status_code == 401 and "not valid" in r.text
    assert "moderate_session" not in r.headers.get("set-cookie", "")
    r = sign_in(page, key=API_KEYS["publisher"])
    assert r.status_code == 403 and "not a moderator" in r.text
    assert page.get("/moderate/queue.json").status_code == 401


def test_sign_in_without_the_forms_token_is_refused(page):
    page.get("/moderate")
    r = page.post(
        "/moderate/sign-in", data={"key": API_KEYS["moderator"], "csrf_token": "forged"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 403
    assert "moderate_session" not in r.headers.get("set-cookie", "")


def test_actions_without_the_csrf_header_are_refused(page, session_factory):
    add_comment(session_factory, "c1", "<img src=x onerror=\"document.title='pwned'\">")
    sign_in(page)
    token = meta_token(page.get("/moderate").text)
    queue = page.get("/moderate/queue.json")
    assert queue.status_code == 200
    assert [i["comment_id"] for i in queue.json()["items"]] == ["c1"]
    assert queue.json()["counters"]["open"] == 1
    no_token = page.post("/moderate/reviews/c1/decision", json={"action": "approve"})
    assert no_token.status_code == 403
    forged = page.post(
        "/moderate/reviews/c1/decision", json={"action": "approve"},
        headers={"X-CSRF-Token": "0" * 64},
    )  # fmt: skip
    assert forged.status_code == 403
    ok = page.post(
        "/moderate/reviews/c1/decision", json={"action": "approve"},
        headers={"X-CSRF-Token": token},
    )  # fmt: skip
    assert ok.status_code == 201 and ok.json()["decided_by"] == "moderator"
    assert page.get("/moderate/queue.json").json()["items"] == []
    out = page.post("/moderate/sign-out", data={"csrf_token": "forged"}, follow_redirects=False)
    assert out.status_code == 403
    out = page.post("/moderate/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert page.get("/moderate/queue.json").status_code == 401


def test_static_files_are_served_and_nothing_else(page):
    js = page.get("/moderate/static/moderate.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert ".innerHTML" not in js.text and "insertAdjacentHTML" not in js.text
    # The page's icon is served, so browsers do not ask for a /favicon.ico that is not there.
    assert 'rel="icon" href="/moderate/static/favicon.svg"' in page.get("/moderate").text
    icon = page.get("/moderate/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert page.get("/moderate/static/..%2Froutes.py").status_code == 404
    assert page.get("/moderate/static/routes.py").status_code == 404


def hold(session_factory, cid: str, moderator: str) -> None:
    with session_factory() as s:
        reviews.claim(session=s, comment_id=cid, moderator=moderator, lease_seconds=600)


@pytest.mark.parametrize("sort", ["priority", "oldest", "toxicity"])
def test_the_queue_keeps_every_review_the_moderator_holds(page, session_factory, sort):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(150):  # the last three sort last by every order, and are held by me
        last = n >= 147
        add_comment(
            session_factory, f"c{n:03}", priority=0 if last else 1 + n % 3,
            toxicity=0.1 if last else 0.5 + (n % 5) / 10, at=base + timedelta(minutes=n),
            author=f"u{n % 9}", article=f"a{n % 4}",
        )  # fmt: skip
    # Others hold more than a page of the reviews that sort before mine.
    with session_factory() as s:
        until = utcnow() + timedelta(minutes=10)
        for n in range(110):
            s.add(ReviewClaim(comment_id=f"c{n:03}", moderator="bob", expires_at=until))
        s.commit()
    for cid in ("c147", "c148", "c149"):
        hold(session_factory, cid, "moderator-tester")
    sign_in(page)
    body = page.get("/moderate/queue.json", params={"sort": sort}).json()
    ids = [i["comment_id"] for i in body["items"]]
    assert ids[-3:] == ["c147", "c148", "c149"]
    assert sorted(ids) == [f"c{n:03}" for n in range(110, 150)]  # 37 open and my 3
    assert {i["claim"]["moderator"] for i in body["items"] if i["claim"]} == {"moderator-tester"}
    assert [i["status"] for i in body["items"]].count("claimed") == 3
    with session_factory() as s:
        open_ones = reviews.list_reviews(s, sort=reviews.Sort(sort), limit=100).items
    assert ids[:-3] == [r.comment_id for r in open_ones]
    assert body["counters"] == {"open": 37, "claimed": 113, "decided_today": 0}
    assert body["moderator"] == "moderator-tester"
    assert sum(a["escalated"] for a in body["articles"]) == 150


def test_the_queue_takes_the_same_queries_for_1_review_as_for_100(page, session_factory):
    engine = page.app.state.engine
    seed_reviews(session_factory, 1)
    hold(session_factory, "o0", "moderator-tester")
    sign_in(page)
    assert page.get("/moderate/queue.json").status_code == 200  # connects
    page.app.state.sites.refresh()  # sites and keys read now: not the page's queries
    with counting(engine) as one:
        small = page.get("/moderate/queue.json").json()
    assert [i["comment_id"] for i in small["items"]] == ["o0"]
    seed_reviews(session_factory, 120, start=1)
    for cid in ("o1", "o2", "o117"):
        hold(session_factory, cid, "moderator-tester")
    page.app.state.sites.refresh()  # sites and keys read now: not the page's queries
    with counting(engine) as many:
        big = page.get("/moderate/queue.json").json()
    assert len(big["items"]) == 104  # the first 100 open ones and my 4
    assert len({i["author"]["id"] for i in big["items"]}) == 7
    assert any(i["parent"] for i in big["items"])
    assert one.count == many.count, (one.sql, many.sql)
    # rows (with the first open ones as a subquery), scores, author counts, author's recent
    # comments, readers' reports, counters, articles
    assert many.count == 7, many.sql


def test_the_queue_poll_takes_no_write_lock(page, session_factory):
    engine = page.app.state.engine
    seed_reviews(session_factory, 3)
    sign_in(page)
    begins: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("BEGIN"):
            begins.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert page.get("/moderate/queue.json").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # SQLite: a plain (deferred) BEGIN, not BEGIN IMMEDIATE; PostgreSQL sends none here.
    assert begins == (["BEGIN"] if engine.dialect.name == "sqlite" else [])


def test_the_help_lists_every_key_the_script_takes_and_each_has_a_button(page):
    """The keyboard help is written in the template and the keys in moderate.js: they agree
    (``Esc`` is ``Escape``; ``Tab`` is the browser's), and every key is on a button."""
    js = page.get("/moderate/static/moderate.js").text
    m = re.search(r"const keys = \[([^\]]*)\];", js)
    assert m, "moderate.js: the list of keys the keydown handler takes"
    handled = set(re.findall(r'"([^"]+)"', m.group(1)))
    sign_in(page)
    html = page.get("/moderate").text
    help_html = html[html.index('id="help"') :]
    listed = set(re.findall(r"<kbd>([^<]+)</kbd>", help_html))
    assert {"Escape" if k == "Esc" else k for k in listed} - {"Tab"} == handled
    # A button for each: the header's (Previous, Next, Help) and the cards' (made by the
    # script with button(label, action, key)).
    header_keys = set(re.findall(r'aria-keyshortcuts="([^"]+)"', html))
    card_keys = set(re.findall(r'button\([^\n]*?, "\w+", "(\w)"\)', js))
    assert header_keys | card_keys == handled - {"Escape"}, (header_keys, card_keys)


def test_the_author_panel_sets_a_status_adds_a_note_and_shows_the_history(page, session_factory):
    add_comment(session_factory, "c1", author="u7")
    add_comment(session_factory, "c2", author="u7")
    assert page.get("/moderate/authors/u7.json").status_code == 401
    sign_in(page)
    token = {"X-CSRF-Token": meta_token(page.get("/moderate").text)}
    author = page.get("/moderate/authors/u7.json")
    assert author.status_code == 200 and author.json()["status"] == "normal"
    assert author.json()["counts"]["escalated"] == 2
    assert page.get("/moderate/authors/nobody.json").status_code == 404
    ban = {"status": "banned", "reason_code": "spam", "reject_pending": True}
    assert page.post("/moderate/authors/u7/status", json=ban).status_code == 403  # no CSRF
    r = page.post("/moderate/authors/u7/status", json=ban, headers=token)
    assert r.status_code == 200, r.text
    assert r.json()["changed"] and r.json()["rejected"] == ["c1", "c2"]
    bad = page.post("/moderate/authors/u7/status", json={"status": "suspended"}, headers=token)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "until"
    assert page.post("/moderate/authors/u7/notes", json={"text": "x"}).status_code == 403
    note = page.post("/moderate/authors/u7/notes", json={"text": "Spam run"}, headers=token)
    assert note.status_code == 201 and note.json()["moderator"] == "moderator-tester"
    body = page.get("/moderate/authors/u7.json").json()
    assert body["status"] == "banned" and [n["text"] for n in body["notes"]] == ["Spam run"]
    history = page.get("/moderate/audit.json", params={"author_id": "u7"}).json()["items"]
    assert [e["action"] for e in history] == ["author.note", "author.status"]
    comment = page.get("/moderate/audit.json", params={"comment_id": "c1"}).json()["items"]
    assert comment[0]["action"] == "review.decide"
    assert page.get("/moderate/audit.json").status_code == 422


def test_the_page_searches_sorts_and_lists_my_recent_decisions(page, session_factory):
    base = datetime(2026, 11, 1, tzinfo=UTC)
    add_comment(session_factory, "c1", "Bus lanes, again.", priority=1, toxicity=0.9, at=base)
    add_comment(session_factory, "c2", "Trams instead.", priority=5, toxicity=0.2,
                at=base + timedelta(minutes=1), author="u2")  # fmt: skip
    add_comment(session_factory, "c3", "More bus lanes!", priority=3, toxicity=0.5,
                at=base + timedelta(minutes=2))  # fmt: skip
    sign_in(page)
    token = {"X-CSRF-Token": meta_token(page.get("/moderate").text)}

    def ids(**params: str) -> list[str]:
        return [
            i["comment_id"] for i in page.get("/moderate/queue.json", params=params).json()["items"]
        ]

    assert ids(sort="priority") == ["c2", "c3", "c1"]
    assert ids(sort="oldest") == ["c1", "c2", "c3"]
    assert ids(sort="toxicity") == ["c1", "c3", "c2"]
    assert ids(q="bus lanes", sort="oldest") == ["c1", "c3"]
    assert ids(q="u2") == ["c2"]
    assert page.get("/moderate/queue.json", params={"q": "x" * 201}).status_code == 422

    assert page.get("/moderate/decisions.json").json()["items"] == []
    first = page.post("/moderate/reviews/c1/decision", json={"action": "approve"}, headers=token)
    second = page.post(
        "/moderate/reviews/c2/decision", json={"action": "reject", "reason_code": "spam"},
        headers=token,
    )  # fmt: skip
    assert first.status_code == second.status_code == 201
    mine = page.get("/moderate/decisions.json").json()
    rows = [(r["comment_id"], r["action"], r["reason_code"], r["undoable"]) for r in mine["items"]]
    assert rows == [("c2", "reject", "spam", True), ("c1", "approve", None, True)]
    assert mine["items"][0]["text"] == "Trams instead."
    assert mine["items"][0]["article_id"] == "a1"
    # Undone, it leaves the list (the decision is gone); decided again by someone else,
    # the older one would no longer be undoable.
    undo = page.post(f"/moderate/decisions/{mine['items'][0]['decision_id']}/undo", headers=token)
    assert undo.status_code == 200, undo.text
    assert [r["comment_id"] for r in page.get("/moderate/decisions.json").json()["items"]] == ["c1"]
