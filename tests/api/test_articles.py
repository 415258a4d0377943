from __future__ import annotations

from sqlalchemy import func, select

from moderation.db import Article
from tests.conftest import auth

PUB = auth("publisher")
ARTICLE = {
    "title": "Bridge reopens",
    "body": "The bridge reopened after repairs.",
    "tags": ["city"],
}


def test_put_creates_then_updates(client, session_factory):
    r = client.put(
        "/v1/articles/art-1",
        json=ARTICLE | {"url": "https://news.example/a", "section": "local"},
        headers=PUB,
    )
    assert r.status_code == 201
    assert (
        r.json()["id"] == "art-1"
        and r.json()["section"] == "local"
        and r.json()["tags"] == ["city"]
    )
    r = client.put(
        "/v1/articles/art-1", json=ARTICLE | {"title": "Bridge reopens to traffic"}, headers=PUB
    )
    assert r.status_code == 200 and r.json()["title"] == "Bridge reopens to traffic"
    assert (
        client.get("/v1/articles/art-1", headers=PUB).json()["title"] == "Bridge reopens to traffic"
    )
    with session_factory() as s:
        assert s.scalar(select(func.count(Article.id))) == 1


def test_bad_article_names_the_field_and_writes_nothing(client, session_factory):
    for payload, field in [
        ({"body": "x"}, "title"),
        (ARTICLE | {"title": "   "}, "title"),
        (ARTICLE | {"tags": "city"}, "tags"),
        (ARTICLE | {"published_at": "soon"}, "published_at"),
    ]:
        r = client.put("/v1/articles/art-1", json=payload, headers=PUB)
        assert r.status_code == 422, payload
        assert r.json()["fields"][0]["field"] == field
    r = client.put("/v1/articles/" + "a" * 201, json=ARTICLE, headers=PUB)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "article_id"
    with session_factory() as s:
        assert s.scalar(select(func.count(Article.id))) == 0


def test_unknown_article_is_404(client):
    r = client.get("/v1/articles/none", headers=PUB)
    assert r.status_code == 404 and "none" in r.json()["message"]
