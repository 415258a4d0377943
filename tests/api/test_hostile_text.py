"""Hostile text through the API: POST /v1/comments with any text (lone surrogates as JSON
``\\ud800`` escapes, zero-width and right-to-left characters, emoji only, 100,000
characters, nothing) is a 202 or a 4xx that names the field, never a 5xx; every accepted
comment is then decided by the worker's job, exactly once."""

from __future__ import annotations

import itertools

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from moderation.db import Comment, Decision, make_engine
from moderation.rulebook import Rulebooks
from tests.conftest import TEST_REDIS_URL, auth
from tests.hostile_text import EXTREMES, as_received, has_lone_surrogate, hostile_text, json_escaped
from workers.jobs import process_comments
from workers.runtime import Runtime

pytestmark = pytest.mark.slow

PUB = auth("publisher") | {"content-type": "application/json"}
LONE_SURROGATE = "a \\ud800-\\udfff escape must be one half of a pair"


@pytest.fixture(scope="module")
def scorers():
    from moderation.scoring import build_scorers
    from moderation.settings import Settings

    return build_scorers(Settings(_env_file=None), redis=redis_lib.Redis.from_url(TEST_REDIS_URL))


@pytest.fixture
def roomy(settings):
    """Limits that let 100,000 characters in (every one a JSON escape), so they are decided."""
    return settings.model_copy(update={"max_comment_chars": 100_000, "max_body_bytes": 4 << 20})


@pytest.fixture
def api(roomy):
    from moderation.api.main import create_app

    with TestClient(create_app(roomy)) as client:
        put = client.put(
            "/v1/articles/a1",
            content=json_escaped(
                {"title": "Port strike \u202eenters\u202c week two 🚢", "body": "Dockers walk out."}
            ),
            headers=PUB,
        )
        assert put.status_code == 201, put.text
        yield client


def post(client: TestClient, cid: str, text: str, name: str | None = None):
    body = {"id": cid, "article_id": "a1", "text": text, "author": {"id": "u1", "name": name}}
    return client.post("/v1/comments", content=json_escaped(body), headers=PUB)


def unstorable(text: str) -> str | None:
    """The message the API gives for the first character no database stores, if any."""
    for i, ch in enumerate(text):
        if has_lone_surrogate(ch):
            return f"must not contain a lone surrogate (found {ch!r} at character {i}): " + (
                LONE_SURROGATE
            )
        if ch == "\x00":
            return f"must not contain the NUL character (found '\\x00' at character {i})"
    return None


def expected_errors(text: str, name: str | None) -> dict[str, str]:
    errors = {}
    if unstorable(text):
        errors["text"] = unstorable(text)
    elif not text.strip():
        errors["text"] = "must not be empty or only whitespace"
    if name is not None and unstorable(name):
        errors["author.name"] = unstorable(name)
    return errors


def check_answer(response, text: str, name: str | None) -> bool:
    """True when the comment was accepted; otherwise the refusal must name each field."""
    text, name = as_received(text), None if name is None else as_received(name)
    assert response.status_code < 500, response.text
    expected = expected_errors(text, name)
    if response.status_code == 202:
        assert expected == {}, response.text
        assert response.json()["text"] == text
        return True
    assert response.status_code == 422, response.text
    fields = {f["field"]: f["message"] for f in response.json()["fields"]}
    assert fields == expected, response.text
    return False


def decide_all(roomy, session_factory, redis_conn, scorers, ids: list[str]) -> None:
    rulebooks = Rulebooks(
        roomy.rules, available_scores=scorers.labels, session_factory=session_factory
    )
    rulebooks.default.load()
    engine = make_engine(roomy.effective_database_url)
    runtime = Runtime(roomy, engine, session_factory, redis_conn, scorers, rulebooks)
    try:
        out = process_comments(runtime, ids)
    finally:
        engine.dispose()
    assert sorted(out["decided"]) == sorted(ids), out
    with session_factory() as s:
        rows = s.execute(
            select(Decision.comment_id, func.count()).group_by(Decision.comment_id)
        ).all()
        assert dict(rows) == {cid: 1 for cid in ids}
        statuses = s.scalars(select(Comment.status).where(Comment.id.in_(ids))).all()
        assert len(statuses) == len(ids) and "pending" not in statuses


def test_any_text_is_accepted_and_decided_or_refused_naming_the_field(
    api, roomy, session_factory, redis_conn, scorers
):
    accepted: list[str] = []
    ids = (f"h{n}" for n in itertools.count())
    for name, text in EXTREMES.items():
        cid = next(ids)
        if check_answer(post(api, cid, text, name=name), text, name):
            accepted.append(cid)

    @given(text=hostile_text(max_size=80), name=hostile_text(max_size=10))
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    def submit(text, name):
        cid = next(ids)
        if check_answer(post(api, cid, text, name=name), text, name):
            accepted.append(cid)

    submit()
    assert len(accepted) >= len(EXTREMES) - 3  # all but nothing, spaces and lone surrogates
    decide_all(roomy, session_factory, redis_conn, scorers, accepted)
    # What was decided reads back whole.
    for cid in accepted[:5]:
        read = api.get(f"/v1/comments/{cid}", headers=PUB)
        assert read.status_code == 200 and read.json()["decision"] is not None


def test_a_lone_surrogate_in_a_batch_item_or_an_article_names_the_field(api, session_factory):
    r = api.post(
        "/v1/comments/batch",
        content=json_escaped(
            {"comments": [
                {"id": "b1", "article_id": "a1", "text": "a\ud800", "author": {"id": "u"}},
                {"id": "b2", "article_id": "a1", "text": "fine", "author": {"id": "u"}},
            ]}
        ),
        headers=PUB,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    [item] = [i for i in r.json()["results"] if i["id"] == "b1"]
    assert (item["result"], item["status_code"]) == ("error", 422)
    assert item["error"]["fields"] == [
        {
            "field": "text",
            "message": f"must not contain a lone surrogate (found '\\ud800' at character 1): "
            f"{LONE_SURROGATE}",
            "type": "value_error",
        }
    ]
    r = api.put(
        "/v1/articles/a2",
        content=json_escaped({"title": "half \udfff", "body": "b", "section": "\ud800"}),
        headers=PUB,
    )
    assert r.status_code == 422
    assert {f["field"]: f["message"] for f in r.json()["fields"]} == {
        "title": f"must not contain a lone surrogate (found '\\udfff' at character 5): "
        f"{LONE_SURROGATE}",
        "section": f"must not contain a lone surrogate (found '\\ud800' at character 0): "
        f"{LONE_SURROGATE}",
    }
    with session_factory() as s:
        assert (
            s.get(Comment, ("default", "b1")) is None
            and s.get(Comment, ("default", "b2")) is not None
        )


def test_100000_characters_under_the_default_limits_is_a_clean_refusal(client):
    put = client.put("/v1/articles/a1", json={"title": "t", "body": "b"}, headers=PUB)
    assert put.status_code == 201
    for name in ("100,000 letters", "100,000 emoji"):
        r = client.post(
            "/v1/comments",
            content=json_escaped(
                {"id": "long", "article_id": "a1", "text": EXTREMES[name], "author": {"id": "u"}}
            ),
            headers=PUB,
        )
        assert r.status_code in (413, 422), r.text
        field = r.json()["fields"][0]
        assert field["field"] == ("text" if r.status_code == 422 else "body"), field
