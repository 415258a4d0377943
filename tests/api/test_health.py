from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from moderation.api.main import create_app
from moderation.heartbeats import Heartbeat, WorkerState, now_iso, publish
from tests.conftest import ROOT, auth


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_ok_with_a_worker_that_loaded_its_scorers(client, worker_heartbeat):
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["failing"], body["warnings"]) == ("ok", [], [])
    assert set(body["checks"]) == {"database", "redis", "rules", "workers"}
    workers = body["checks"]["workers"]
    assert (workers["ok"], workers["ready"], workers["heartbeat_ttl_seconds"]) == (True, 1, 15)
    [seen] = workers["workers"]
    assert seen["name"] == worker_heartbeat.name and seen["state"] == "ready"
    assert seen["scorers"] == ["toxicity", "relevance", "spam"]


def test_readyz_is_unavailable_without_a_worker(client):
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["workers"]
    assert r.json()["checks"]["workers"] == {
        "ok": False,
        "error": "no worker has loaded its scorers: no worker has sent a heartbeat in the "
        "last 15 s (start one: moderation worker)",
        "ready": 0,
        "heartbeat_ttl_seconds": 15.0,
        "workers": [],
    }


def test_readyz_only_judges_the_named_checks_and_still_reports_the_others(client):
    """What a load balancer in front of the API asks: can this process store comments? With
    no worker up it can (they wait, pending), so it stays in the pool."""
    r = client.get("/readyz", params={"only": "database,rules"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["failing"], body["judged_on"]) == (
        "ok",
        [],
        ["database", "rules"],
    )
    assert body["checks"]["workers"]["ok"] is False  # reported, not judged
    assert client.get("/readyz", params={"only": "workers"}).status_code == 503
    publisher = auth("publisher")
    client.put("/v1/articles/a1", json={"title": "T", "body": "B"}, headers=publisher)
    accepted = client.post(
        "/v1/comments",
        json={"id": "while-no-worker", "article_id": "a1", "text": "Fine.", "author": {"id": "u"}},
        headers=publisher,
    )
    assert accepted.status_code == 202 and accepted.json()["status"] == "pending"


def test_readyz_refuses_a_check_it_does_not_have(client):
    for only, what in (("database,workerz", "'workerz' is not a check"), (" , ", "empty")):
        r = client.get("/readyz", params={"only": only})
        assert r.status_code == 422
        message = (
            f"only: {what}; name one or more of database, redis, rules, workers, perspective, "
            "comma-separated"
        )
        assert r.json() == {
            "error": "validation_error",
            "message": message,
            "fields": [{"field": "only", "message": message, "type": "value_error"}],
        }


def failed_beat(settings, name: str = "w-bad") -> Heartbeat:
    return Heartbeat(
        name=name, pid=4242, host="box", queues=[settings.queue], state=WorkerState.FAILED,
        started_at=now_iso(), error="loading its scorers toxicity failed: no checkpoint",
    )  # fmt: skip


def test_readyz_names_a_worker_that_failed_to_load_its_scorers(client, settings, redis_conn):
    publish(redis_conn, queue=settings.queue, beat=failed_beat(settings), ttl_seconds=60)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["failing"] == ["workers"]
    assert r.json()["checks"]["workers"]["error"] == (
        "no worker has loaded its scorers: worker w-bad (pid 4242 on box): "
        "loading its scorers toxicity failed: no checkpoint"
    )


def test_a_failed_worker_beside_a_ready_one_is_a_warning(
    client, settings, redis_conn, worker_heartbeat
):
    publish(redis_conn, queue=settings.queue, beat=failed_beat(settings), ttl_seconds=60)
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["warnings"] == [
        "workers: worker w-bad (pid 4242 on box) takes no jobs: "
        "loading its scorers toxicity failed: no checkpoint"
    ]


def test_a_worker_of_another_queue_does_not_make_it_ready(client, settings, redis_conn):
    beat = failed_beat(settings, "hooks")
    beat.state, beat.error, beat.queues = WorkerState.READY, None, ["webhooks"]
    publish(redis_conn, queue=settings.queue, beat=beat, ttl_seconds=60)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["workers"]["error"] == (
        f"no worker has loaded its scorers: 1 live worker(s), none serving queue {settings.queue!r}"
    )


def test_readyz_names_an_unreachable_redis(settings):
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    with TestClient(app) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["redis"]  # the cause; workers cannot be seen without it
    assert r.json()["checks"]["workers"] == {
        "ok": False,
        "error": "unknown while Redis is unreachable",
    }


def test_readyz_names_a_broken_rules_file(settings, tmp_path, worker_heartbeat):
    rules = tmp_path / "rules.yaml"
    rules.write_text("default: maybe\n")
    with TestClient(create_app(settings.model_copy(update={"rules": rules}))) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["failing"] == ["rules"]
    assert any("default" in e for e in r.json()["checks"]["rules"]["error"])


def test_a_refused_reload_keeps_it_ready_and_says_which_version_decides(
    settings, tmp_path, worker_heartbeat
):
    rules = tmp_path / "rules" / "site.yaml"
    shutil.copytree(ROOT / "rules" / "words", rules.parent / "words")
    shutil.copy(ROOT / "rules" / "default.yaml", rules)
    # Checked on every request, so the test needs no wait.
    update = {"rules": rules, "rules_reload_interval_seconds": 0.001}
    with TestClient(create_app(settings.model_copy(update=update))) as c:
        version = c.get("/readyz").json()["checks"]["rules"]["version"]
        line = rules.read_text().splitlines().index("default:") + 2  # the line bogus goes on
        rules.write_text(rules.read_text().replace("default:", "default:\n  bogus: 1\n ", 1))
        r = c.get("/readyz")
    assert r.status_code == 200, r.text
    check = r.json()["checks"]["rules"]
    assert check["version"] == version
    [error] = check["refused_reload"]
    assert error == (
        f"{rules}:{line}:3: unknown key 'bogus' in default; "
        "expected one of: action, message, priority, labels, reason"
    )
    assert check["refused_at"]
    assert r.json()["warnings"] == [
        f"rules: {rules} was refused (1 problem(s): {error}); version {version[:12]} keeps deciding"
    ]


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


def test_readyz_reads_the_database_without_waiting_behind_a_writer(
    client, settings, worker_heartbeat
):
    import sqlite3

    if not settings.effective_database_url.startswith("sqlite"):
        return  # PostgreSQL readers never wait for writers
    assert client.get("/readyz").status_code == 200  # the rules are loaded (and stored) once
    path = settings.effective_database_url.split("///", 1)[1]
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    writer.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock, as a long batch would
    try:
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["checks"]["database"] == {"ok": True}
    finally:
        writer.execute("ROLLBACK")
        writer.close()
