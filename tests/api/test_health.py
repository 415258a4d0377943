from __future__ import annotations

from fastapi.testclient import TestClient

from moderation.api.main import create_app


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_ok(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["failing"] == []
    assert set(r.json()["checks"]) == {"database", "redis", "rules"}


def test_readyz_names_an_unreachable_redis(settings):
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    with TestClient(app) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["redis"]


def test_readyz_names_a_broken_rules_file(settings, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("default: maybe\n")
    with TestClient(create_app(settings.model_copy(update={"rules": rules}))) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["rules"]
    assert any("default" in e for e in r.json()["checks"]["rules"]["error"])


def test_readyz_names_an_unreachable_database(settings):
    app = create_app(
        settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/x"})
    )
    with TestClient(app) as c:
        r = c.get("/readyz")
    assert r.status_code == 503 and "database" in r.json()["failing"]


def test_openapi_lists_the_paths(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/articles/{article_id}",
        "/v1/comments",
        "/v1/comments/batch",
        "/v1/comments/{comment_id}",
        "/healthz",
        "/readyz",
    } <= set(paths)
