"""Google's own Python client (google-api-python-client) against a real server, built from
this service's discovery document exactly as Perspective's documentation builds it, with
only the discovery URL changed."""

from __future__ import annotations

import pytest
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from tests.conftest import API_KEYS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ERROR_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"


def build(base_url: str, key: str):  # type: ignore[no-untyped-def]
    # Perspective's documentation: discovery.build("commentanalyzer", "v1alpha1",
    # developerKey=API_KEY, discoveryServiceUrl="https://commentanalyzer.googleapis.com/
    # $discovery/rest?version=v1alpha1", static_discovery=False)
    return discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=base_url + "/$discovery/rest?version=v1alpha1",
        static_discovery=False,
    )


def probability(score: dict) -> float:
    assert set(score) == {"value", "type"}, score
    assert score["type"] == "PROBABILITY"
    assert isinstance(score["value"], float) and 0.0 <= score["value"] <= 1.0, score
    return float(score["value"])


def test_googles_python_client_talks_to_this_service_unchanged(
    database_url, redis_server, stack_factory
):
    stack = stack_factory(database_url, redis_server.url, MODERATION_PERSPECTIVE_ENABLED="true")
    stack.start_api()
    stack.wait_ready(ignore={"workers"})  # the Perspective API needs no worker
    client = build(stack.url, API_KEYS["publisher"])

    # The request of Perspective's Python quickstart, as it is.
    response = (
        client.comments()
        .analyze(
            body={
                "comment": {"text": "friendly greetings from python"},
                "requestedAttributes": {"TOXICITY": {}},
            }
        )
        .execute()
    )
    assert set(response) == {"attributeScores", "languages", "detectedLanguages"}, response
    assert list(response["attributeScores"]) == ["TOXICITY"]
    assert set(response["attributeScores"]["TOXICITY"]) == {"summaryScore"}
    friendly = probability(response["attributeScores"]["TOXICITY"]["summaryScore"])
    assert response["detectedLanguages"][0] == "en"
    assert response["languages"] == ["en"]

    # Languages given, a client token, span annotations, two attributes.
    text = "You are a stupid idiot and everyone here knows it."
    response = (
        client.comments()
        .analyze(
            body={
                "comment": {"text": text},
                "requestedAttributes": {"TOXICITY": {}, "SPAM": {}},
                "languages": ["en"],
                "spanAnnotations": True,
                "clientToken": "py-client-1",
                "doNotStore": True,
            }
        )
        .execute()
    )
    assert set(response) == {"attributeScores", "languages", "clientToken"}, response
    assert (response["languages"], response["clientToken"]) == (["en"], "py-client-1")
    assert set(response["attributeScores"]) == {"TOXICITY", "SPAM"}
    toxicity = response["attributeScores"]["TOXICITY"]
    assert probability(toxicity["summaryScore"]) > friendly
    assert toxicity["spanScores"], toxicity
    for span in toxicity["spanScores"]:
        assert set(span) == {"begin", "end", "score"}
        assert 0 <= span["begin"] < span["end"] <= len(text)  # ASCII: UTF-16 units = chars
        probability(span["score"])
    probability(response["attributeScores"]["SPAM"]["summaryScore"])

    # A moderator's label, as Coral sends it when a comment is rejected.
    suggestion = (
        client.comments()
        .suggestscore(
            body={
                "comment": {"text": text},
                "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
                "languages": ["en"],
                "communityId": "python-client-test",
                "clientToken": "comment:py-1",
            }
        )
        .execute()
    )
    assert suggestion["clientToken"] == "comment:py-1"

    # Errors arrive as HttpError with Perspective's message and the error type in details.
    with pytest.raises(HttpError) as empty:
        client.comments().analyze(
            body={"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}
        ).execute()
    assert empty.value.status_code == 400
    assert empty.value.reason == "Comment must be non-empty."
    assert empty.value.error_details == [{"@type": ERROR_TYPE, "errorType": "COMMENT_EMPTY"}]

    # A wrong key still gets the (public) discovery document, then Google's key error.
    stranger = build(stack.url, "not-a-key-of-this-service")
    with pytest.raises(HttpError) as bad_key:
        stranger.comments().analyze(
            body={"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}}
        ).execute()
    assert bad_key.value.status_code == 400
    assert bad_key.value.reason == "API key not valid. Please pass a valid API key."
    assert [d["reason"] for d in bad_key.value.error_details] == ["API_KEY_INVALID"]
