"""Reason codes on the API: the list for the review page, a moderator's rejection with and
without a code (422 naming the codes for an unknown one), and the commenter's text."""

from __future__ import annotations

from moderation import reasons

from .test_reviews import MOD, PUB, add_comment, api, review_settings  # noqa: F401


def test_the_list_is_served_to_moderators_only(api):  # noqa: F811
    r = api.get("/v1/reasons", headers=MOD)
    assert r.status_code == 200
    assert [x["code"] for x in r.json()] == [x.code for x in reasons.REASONS]
    assert [x["key"] for x in r.json()] == list(range(1, len(reasons.REASONS) + 1))
    assert api.get("/v1/reasons", headers=PUB).status_code == 403


def test_an_unknown_code_is_refused_naming_the_codes(api, session_factory):  # noqa: F811
    add_comment(session_factory, "c1")
    r = api.post("/v1/reviews/c1/decision", json={"action": "reject", "reason_code": "rude"},
                 headers=MOD)  # fmt: skip
    assert r.status_code == 422
    assert reasons.allowed_codes() in r.json()["message"]


def test_a_rejection_carries_its_code_and_text(api, session_factory):  # noqa: F811
    add_comment(session_factory, "c1")
    add_comment(session_factory, "c2")
    r = api.post(
        "/v1/reviews/c1/decision",
        json={"action": "reject", "reason_code": "spam", "reason_text": "No adverts, please."},
        headers=MOD,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["reason_code"], r.json()["reason_text"]) == ("spam", "No adverts, please.")
    r = api.post("/v1/reviews/c2/decision", json={"action": "reject"}, headers=MOD)
    assert r.json()["reason_code"] == "other"
    decision = api.get("/v1/comments/c2", headers=PUB).json()["decision"]
    assert decision["reason_text"] == reasons.get("other").text
