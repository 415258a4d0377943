"""/metrics through the app: who may scrape, what a scrape holds, requests counted by route."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from moderation import metrics
from moderation.api.main import create_app
from moderation.api.routes.metrics import is_loopback
from tests.conftest import auth


def series(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("127.0.0.53", True), ("0.0.0.0", False), ("10.0.0.5", False), ("testserver", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_scrape_from_another_machine_needs_an_admin_or_operator_key(client):
    # TestClient's requests come in on "testserver", not a loopback address.
    assert client.get("/metrics").status_code == 401
    r = client.get("/metrics", headers=auth("publisher"))
    assert r.status_code == 403
    assert r.json()["message"] == "the publisher role cannot read metrics; needs: admin, operator"
    assert client.get("/metrics", headers=auth("moderator")).status_code == 403
    r = client.get("/metrics", headers=auth("admin"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_a_scrape_over_loopback_needs_no_key_unless_the_settings_ask(settings, worker_heartbeat):
    for required, expected in ((False, 200), (True, 401)):
        app = create_app(settings.model_copy(update={"metrics_key_required": required}))
        with TestClient(app, base_url="http://127.0.0.1:8000") as local:
            # TestClient puts the base URL's host in the ASGI scope's "server".
            assert local.get("/metrics").status_code == expected


def test_requests_are_counted_by_route_template_and_status(client, redis_conn, settings):
    pub = auth("publisher")
    article = {"title": "Bus lanes", "body": "The council votes on bus lanes on Tuesday."}
    assert client.put("/v1/articles/a1", json=article, headers=pub).status_code == 201
    for cid in ("c1", "c2"):
        body = {"id": cid, "article_id": "a1", "text": "Good.", "author": {"id": "u"}}
        assert client.post("/v1/comments", json=body, headers=pub).status_code == 202
    assert client.get("/v1/comments/c1", headers=pub).status_code == 200
    assert client.get("/v1/comments/nope", headers=pub).status_code == 404
    assert client.get("/no/such/path").status_code == 404
    metrics.flush(redis_conn, settings.queue)
    got = series(client.get("/metrics", headers=auth("admin")).text)

    def requests(method: str, route: str, status: str) -> float:
        key = (("method", method), ("route", route), ("status", status))
        return got.get(("moderation_http_requests_total", key), 0.0)

    assert requests("POST", "/v1/comments", "202") == 2
    assert requests("GET", "/v1/comments/{comment_id}", "200") == 1
    assert requests("GET", "/v1/comments/{comment_id}", "404") == 1
    assert requests("GET", "unmatched", "404") == 1
    assert got[("moderation_comments_received_total", (("site", "default"),))] == 2
    # The gauges of the scrape: two comments pending on the default site.
    assert got[("moderation_comments_pending", (("site", "default"),))] == 2
