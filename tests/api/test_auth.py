from __future__ import annotations

import pytest

from moderation.auth import KeyRing, Role, load_or_generate
from moderation.exceptions import ConfigurationError
from tests.conftest import auth

ARTICLE = {"title": "t", "body": "b"}


def test_missing_and_unknown_keys_are_401(client):
    r = client.put("/v1/articles/a", json=ARTICLE)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.put(
        "/v1/articles/a", json=ARTICLE, headers={"Authorization": "Bearer nope-nope-nope-nope"}
    )
    assert r.status_code == 401 and r.json()["message"] == "unknown API key"
    r = client.put("/v1/articles/a", json=ARTICLE, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_wrong_role_is_403_and_admin_can_do_everything(client):
    r = client.put("/v1/articles/a", json=ARTICLE, headers=auth("moderator"))
    assert r.status_code == 403 and "publisher" in r.json()["message"]
    assert client.put("/v1/articles/a", json=ARTICLE, headers=auth("admin")).status_code == 201
    assert client.put("/v1/articles/b", json=ARTICLE, headers=auth("publisher")).status_code == 201


def test_keyring_parsing():
    ring = KeyRing.parse(
        "publisher:aaaaaaaaaaaaaaaa, publisher:bbbbbbbbbbbbbbbb,moderator@alice:cccccccccccccccc"
    )
    assert ring.authenticate("bbbbbbbbbbbbbbbb").name == "publisher-2"
    assert ring.authenticate("cccccccccccccccc").name == "alice"
    assert ring.authenticate("cccccccccccccccc").role is Role.MODERATOR
    assert ring.authenticate("zzzz") is None
    with pytest.raises(ConfigurationError, match="role 'root'"):
        KeyRing.parse("root:aaaaaaaaaaaaaaaa")
    with pytest.raises(ConfigurationError, match="no key"):
        KeyRing.parse("publisher")
    with pytest.raises(ConfigurationError, match="shorter than 16"):
        KeyRing.parse("publisher:short")


def test_generated_keys_are_made_once(tmp_path):
    spec, created = load_or_generate(tmp_path)
    assert created
    ring = KeyRing.parse(spec)
    assert all(ring.keys_for(role) for role in Role)
    assert (tmp_path / "api-keys").stat().st_mode & 0o777 == 0o600
    assert load_or_generate(tmp_path) == (spec, False)
