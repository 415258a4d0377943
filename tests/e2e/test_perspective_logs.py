"""A real uvicorn API with the Perspective API on: a doNotStore request leaves its text in no
log line (access log included) and the key in the URL is masked there."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import API_KEYS, TEST_REDIS_URL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_nothing_of_the_text_or_key_reaches_the_logs(stack_factory, database_url):
    stack = stack_factory(database_url, TEST_REDIS_URL, MODERATION_PERSPECTIVE_ENABLED="true")
    stack.start_api()
    stack.wait_ready(240, ignore={"workers"})  # the Perspective API needs no worker
    marker = "quokkamarker you idiot"
    key = API_KEYS["publisher"]
    r = httpx.post(
        f"{stack.url}/v1alpha1/comments:analyze?key={key}&alt=json",
        json={
            "comment": {"text": marker},
            "requestedAttributes": {"TOXICITY": {}},
            "doNotStore": True,
            "spanAnnotations": True,
        },
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert (
        httpx.post(
            f"{stack.url}/v1alpha1/comments:analyze?key={key}", json={"comment": {"text": marker}}
        ).json()["error"]["errorType" if False else "status"]
        == "INVALID_ARGUMENT"
    )
    stack.stop()
    logs = stack.dump()
    assert 'analyze?key=***&alt=json HTTP/1.1" 200' in logs  # the access log line is there
    assert "quokkamarker" not in logs
    assert key not in logs
