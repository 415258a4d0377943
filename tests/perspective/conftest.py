"""A real app with the Perspective API on and the real offline scorers (loaded once per test
process and shared by the apps of the tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import API_KEYS

PUB = API_KEYS["publisher"]
ADMIN = API_KEYS["admin"]
MODERATOR = API_KEYS["moderator"]

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"


@pytest.fixture
def perspective_settings(settings):
    return settings.model_copy(update={"perspective_enabled": True})


@pytest.fixture
def pclient(perspective_settings) -> Iterator[TestClient]:
    from moderation.api.main import create_app

    app = create_app(perspective_settings)
    with TestClient(app) as client:
        assert app.state.analyzer.wait_ready(300), app.state.analyzer.error
        yield client


def analyze(client: TestClient, body: dict, key: str = PUB, **params: str):
    return client.post(ANALYZE, params={"key": key, **params}, json=body)
