from __future__ import annotations

import pytest

from moderation.auth import KeyRing, Role, load_or_generate
from moderation.exceptions import ConfigurationError
from tests.conftest import API_KEYS, auth

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
        "publisher:aaaaaaaaaaaaaaaa, publisher:bbbbbbbbbbbbbbbb,moderator/alice:cccccccccccccccc,"
        "publisher@daily-news:dddddddddddddddd,moderator@daily-news/bob:eeeeeeeeeeeeeeee,"
        "operator/ops:ffffffffffffffff"
    )
    assert ring.authenticate("bbbbbbbbbbbbbbbb").name == "publisher-2"
    assert ring.authenticate("bbbbbbbbbbbbbbbb").site == "default"
    assert ring.authenticate("cccccccccccccccc").name == "alice"
    assert ring.authenticate("cccccccccccccccc").role is Role.MODERATOR
    daily = ring.authenticate("dddddddddddddddd")
    assert (daily.role, daily.site, daily.name) == (Role.PUBLISHER, "daily-news", "publisher-1")
    bob = ring.authenticate("eeeeeeeeeeeeeeee")
    assert (bob.role, bob.site, bob.name) == (Role.MODERATOR, "daily-news", "bob")
    ops = ring.authenticate("ffffffffffffffff")
    assert (ops.role, ops.site, ops.name) == (Role.OPERATOR, None, "ops")
    assert ring.env_sites() == {"default", "daily-news"}
    assert ring.authenticate("zzzz") is None
    with pytest.raises(ConfigurationError, match="site 'Daily News'"):
        KeyRing.parse("publisher@Daily News:aaaaaaaaaaaaaaaa")
    with pytest.raises(ConfigurationError, match="operators work on every site"):
        KeyRing.parse("operator@daily-news:aaaaaaaaaaaaaaaa")
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
    assert all(ring.keys_for(role) for role in (Role.PUBLISHER, Role.MODERATOR, Role.ADMIN))
    assert not ring.keys_for(Role.OPERATOR)  # made on purpose, never generated
    assert (tmp_path / "api-keys").stat().st_mode & 0o777 == 0o600
    assert load_or_generate(tmp_path) == (spec, False)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing API key: use 'Authorization: Bearer <key>'"),
        ("", "missing API key: use 'Authorization: Bearer <key>'"),
        (
            "pub-test-key-0123456789",
            "the Authorization header has no scheme: use 'Authorization: Bearer <key>'",
        ),
        (
            "Bearer",
            "no key after 'Bearer' in the Authorization header: use 'Authorization: Bearer <key>'",
        ),
        (
            "Basic cHViOnNlY3JldA==",
            "unsupported authorization scheme 'Basic': use 'Authorization: Bearer <key>'",
        ),
        ("Bearer nope-nope-nope-nope", "unknown API key"),
    ],
    ids=["absent", "empty", "key-without-scheme", "scheme-without-key", "basic", "unknown"],
)
def test_each_authorization_mistake_is_named(client, header, message):
    headers = {} if header is None else {"Authorization": header}
    r = client.get("/v1/articles/a", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "message": message, "fields": []}
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_valid_key_without_its_scheme_is_still_refused(client):
    r = client.get("/v1/articles/a", headers={"Authorization": API_KEYS["publisher"]})
    assert r.status_code == 401 and "no scheme" in r.json()["message"]
    r = client.get("/v1/articles/a", headers={"Authorization": f"bearer  {API_KEYS['publisher']}"})
    assert r.status_code == 404  # the scheme in any case, spaces around the key: accepted
