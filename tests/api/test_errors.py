"""Errors that say what is wrong, as a new user meets them: a body without a JSON
Content-Type, a body or an item that is not an object, a method a path does not take, bytes
that are not UTF-8; and the document's patterns, checked against the validators they mirror."""

from __future__ import annotations

import json
import re
import sys
import unicodedata

import pytest
from sqlalchemy import func, select

from moderation.api.schemas import NO_CONTROL_CHARACTERS, NOT_BLANK, WINDOW
from moderation.db import Comment
from moderation.rule_stats import parse_window
from tests.conftest import auth

PUB = auth("publisher")
COMMENT = {
    "id": "c1",
    "article_id": "a1",
    "text": "The dockers have a point.",
    "author": {"id": "u1"},
}


@pytest.fixture
def article(client):
    r = client.put("/v1/articles/a1", json={"title": "Strike", "body": "Dockers out."}, headers=PUB)
    assert r.status_code == 201


def stored(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count(Comment.id))) or 0


@pytest.mark.parametrize(
    ("content_type", "got"),
    [
        ("text/plain", "Content-Type 'text/plain'"),
        ("application/x-www-form-urlencoded", "Content-Type 'application/x-www-form-urlencoded'"),
        (None, "no Content-Type"),
    ],
    ids=["text-plain", "form (curl -d)", "none"],
)
def test_a_json_body_without_a_json_content_type_is_told_to_send_one(
    client, article, session_factory, content_type, got
):
    headers = PUB | ({"Content-Type": content_type} if content_type else {})
    r = client.post("/v1/comments", content=json.dumps(COMMENT), headers=headers)
    message = f"the request body must be JSON: send Content-Type: application/json (got {got})"
    assert r.status_code == 415
    assert r.json() == {
        "error": "unsupported_media_type",
        "message": message,
        "fields": [{"field": "body", "message": message, "type": "unsupported_media_type"}],
    }
    assert stored(session_factory) == 0


def test_json_with_a_charset_or_a_json_suffix_is_json(client, article):
    r = client.post(
        "/v1/comments",
        content=json.dumps(COMMENT),
        headers=PUB | {"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 202, r.text
    r = client.post(
        "/v1/comments",
        content=json.dumps(COMMENT | {"id": "c2"}),
        headers=PUB | {"Content-Type": "application/vnd.moderation+json"},
    )
    assert r.status_code == 202, r.text


def test_a_missing_body_is_named(client):
    r = client.post("/v1/comments", headers=PUB | {"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["message"] == "body: the request body is missing: send a JSON object"


def test_a_body_or_a_field_that_is_not_an_object_names_no_internal_class(client, article):
    r = client.post("/v1/comments", json=[COMMENT], headers=PUB)
    assert r.status_code == 422
    assert r.json() == {
        "error": "validation_error",
        "message": "body: the request body must be a JSON object",
        "fields": [
            {
                "field": "body",
                "message": "the request body must be a JSON object",
                "type": "object_type",
            }
        ],
    }
    r = client.post("/v1/comments", json=COMMENT | {"author": "u1"}, headers=PUB)
    assert r.status_code == 422
    assert r.json()["message"] == "author: must be a JSON object"
    assert "AuthorIn" not in r.text and "CommentCreate" not in r.text


def test_a_batch_item_that_is_not_an_object_is_told_each_item_must_be_one(client, article):
    r = client.post("/v1/comments/batch", json={"comments": ["just text", COMMENT]}, headers=PUB)
    assert r.status_code == 202, r.text
    first, second = r.json()["results"]
    assert first["error"] == {
        "error": "validation_error",
        "message": "comments.0: each item must be a JSON object",
        "fields": [
            {
                "field": "comments.0",
                "message": "each item must be a JSON object",
                "type": "object_type",
            }
        ],
    }
    assert second["result"] == "accepted"
    assert "CommentCreate" not in r.text and "instance of" not in r.text


def test_a_date_time_sent_as_a_number_is_refused(client, article):
    r = client.post("/v1/comments", json=COMMENT | {"created_at": 1700000000}, headers=PUB)
    assert r.status_code == 422
    assert r.json()["message"] == (
        "created_at: must be a date and time as text (RFC 3339), e.g. 2024-06-13T09:30:00Z"
    )


def test_a_method_the_path_does_not_take_lists_every_method_it_does(client):
    r = client.delete("/v1/articles/a1", headers=PUB)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, PUT"
    assert r.json() == {
        "error": "method_not_allowed",
        "message": "DELETE is not allowed here; allowed: GET, PUT",
        "fields": [],
    }


def test_json_that_is_not_utf8_is_malformed_json(client):
    r = client.post(
        "/v1/comments",
        content=b'{"id": "\xff"}',
        headers=PUB | {"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "malformed_json",
        "message": "request body is not valid JSON: it is not UTF-8 (byte 8)",
        "fields": [
            {"field": "body", "message": "it is not UTF-8 (byte 8)", "type": "json_invalid"}
        ],
    }


# --- the document's patterns are the validators' rules ------------------------------------


def test_not_blank_is_exactly_what_strip_keeps():
    pattern = re.compile(NOT_BLANK)
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        assert bool(pattern.search(ch)) == bool(ch.strip()), hex(code)


def test_identifiers_refuse_exactly_the_control_characters():
    pattern = re.compile(NO_CONTROL_CHARACTERS)
    for code in range(0x3000):
        ch = chr(code)
        assert bool(pattern.fullmatch(ch)) == (unicodedata.category(ch) != "Cc"), hex(code)


@pytest.mark.parametrize(
    "text",
    ["24h", " 24 h ", "0.5m", "00.5m", "9999.9w", "0010s", "24h\n", "\u300024h",
     "9999.99999999999999999h", "0." + "0" * 400 + "1s",
     "0s", "0.0h", "10000s", "010000s", "1.h", ".5h", "24x", "", "1e3h", "-1h", "24hh"],
)  # fmt: skip
def test_the_window_pattern_takes_what_parse_window_takes(text):
    try:
        parse_window(text)
        takes = True
    except ValueError:
        takes = False
    assert bool(re.search(WINDOW, text)) == takes


def test_a_window_too_long_for_the_calendar_is_a_422_not_a_500(client):
    r = client.get("/v1/rules/stats", params={"since": "99999999999w"}, headers=auth("admin"))
    assert r.status_code == 422
    assert r.json()["message"] == (
        "since: window '99999999999w' is too long: the number must be below 10000"
    )


def test_a_page_after_an_id_beyond_64_bits_is_a_422_not_a_500(client):
    r = client.get("/v1/perspective/suggestions", params={"after": 2**63}, headers=auth("admin"))
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "after"
