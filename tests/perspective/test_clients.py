"""Requests written exactly as Perspective's clients write them (URL, query, headers, body),
and each whole response checked as that client reads it.

Where each shape comes from (the clients' own source; /work/notes/p2-research.md has more):

- Coral Talk: coralproject/talk ``server/src/core/server/services/perspective/perspective.ts``
  (``formatBody``, ``sendToPerspective``: ``url.pathname = path.join(url.pathname,
  "/comments:analyze")``, ``searchParams.set("key", key.trim())``), the toxic-comment phase
  ``services/comments/pipeline/phases/toxic.ts`` (reads
  ``attributeScores[model].summaryScore.value``, ``score > threshold``), the moderator feedback
  ``events/listeners/perspective.ts`` (APPROVED -> 0, REJECTED -> "DELETED" -> 1), and the
  HTTP client ``services/fetch/axios.ts`` (``User-Agent: Coral Perspective/<version>``).
- Discourse: discourse/discourse-perspective-api ``lib/discourse_perspective.rb``
  (``AnalyzeComment#to_json``, ``score_comment``'s Excon request and headers,
  ``extract_value_from_analyze_comment_response``).
- Node: sloria/perspective-api-client ``index.js`` (``getAnalyzeCommentPayload``, axios post
  with ``params: {key}``).
- Python: google-api-python-client, ``discovery.build`` with this service's discovery
  document; the client itself runs here, only its socket is replaced by the test client.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httplib2
import pytest
from fastapi.testclient import TestClient
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from tests.conftest import API_KEYS, auth

pytestmark = pytest.mark.slow  # the real scorers

KEY = API_KEYS["publisher"]
ERROR_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"

BENIGN = (
    "Thanks for laying out both sides of the helicopter deal so clearly. I had not realised "
    "how much of Pakistan's equipment already comes from China."
)
ABUSIVE = "You are a fucking idiot and a piece of shit, shut up you stupid moron."


@pytest.fixture
def api(pclient: TestClient) -> TestClient:
    """The real app with its analyzer loaded (tests/perspective/conftest.py)."""
    return pclient


def probability(score: Any) -> float:
    assert isinstance(score, dict) and set(score) == {"value", "type"}, score
    assert score["type"] == "PROBABILITY"
    assert isinstance(score["value"], float) and 0.0 <= score["value"] <= 1.0, score
    return float(score["value"])


def error_envelope(message: str, error_type: str) -> dict[str, Any]:
    return {
        "error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": ERROR_TYPE, "errorType": error_type}],
        }
    }


# --- Coral Talk -----------------------------------------------------------------------------

CORAL_HEADERS = {
    # createAxios({name: "perspective"}): `Coral ${capitalize(name)}/${version}`, then the
    # request's own Content-Type; axios adds its default Accept.
    "User-Agent": "Coral Perspective/9.7.0",
    "Content-Type": "application/json",
    "Accept": "application/json, text/plain, */*",
}


def coral_url(endpoint: str, operation: str, key: str) -> str:
    """sendToPerspective: ``new URL(endpoint.trim())``, ``url.pathname = path.join(
    url.pathname, `/${operation}`)``, ``url.searchParams.set("key", key.trim())``."""
    parts = urlsplit(endpoint.strip())
    path = posixpath.normpath(posixpath.join(parts.path, "./" + operation))
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode({"key": key.strip()}), ""))


def coral_analyze(text: str, language: str = "en", model: str = "TOXICITY") -> dict[str, Any]:
    # formatBody, operation "comments:analyze"; doNotStore is the tenant's setting (default
    # true: "Allow Google to store comment data" off).
    return {
        "comment": {"text": text},
        "doNotStore": True,
        "requestedAttributes": {model: {}},
        "languages": [language],
    }


def coral_suggest(
    text: str, comment_id: str, parent_id: str | None, status: str, model: str = "TOXICITY"
) -> dict[str, Any]:
    # formatBody, operation "comments:suggestscore": the context entry is JSON.stringify of
    # the comment's URL and ids (undefined parent ids are dropped by JSON.stringify).
    meta: dict[str, str] = {
        "url": f"https://news.example.com/2026/helicopters?commentID={comment_id}"
    }
    if parent_id is not None:
        meta["reply_to_id_Coral_comment_id"] = parent_id
    meta["Coral_comment_id"] = comment_id
    return {
        "comment": {"text": text},
        "context": {"entries": [{"text": json.dumps(meta, separators=(",", ":"))}]},
        "attributeScores": {model: {"summaryScore": {"value": 0 if status == "APPROVED" else 1}}},
        "languages": ["en"],
        "communityId": "Coral:https://comments.news.example.com/",
        "clientToken": f"comment:{comment_id}",
    }


def send_coral(api: TestClient, operation: str, body: dict[str, Any], *, endpoint: str):
    url = coral_url(endpoint, operation, f"  {KEY} ")  # Coral trims the key it stores
    return api.post(url, content=json.dumps(body, separators=(",", ":")), headers=CORAL_HEADERS)


@pytest.mark.parametrize(
    "endpoint",
    ["http://testserver/v1alpha1", "http://testserver/v1alpha1/", " http://testserver/v1alpha1 "],
)
def test_coral_joins_its_custom_endpoint_to_our_paths(endpoint):
    assert coral_url(endpoint, "comments:analyze", " k ") == (
        "http://testserver/v1alpha1/comments:analyze?key=k"
    )


def test_coral_toxic_comment_phase_reads_a_score_and_withholds_only_the_abusive_comment(api):
    threshold = 0.8  # TOXICITY_THRESHOLD_DEFAULT / 100
    scores = {}
    for name, text in (("benign", BENIGN), ("abusive", ABUSIVE)):
        response = send_coral(
            api, "comments:analyze", coral_analyze(text), endpoint="http://testserver/v1alpha1"
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"attributeScores", "languages"}, body
        assert body["languages"] == ["en"]
        assert list(body["attributeScores"]) == ["TOXICITY"]
        assert list(body["attributeScores"]["TOXICITY"]) == ["summaryScore"]
        # toxic.ts: result.data.attributeScores[model].summaryScore.value as number
        scores[name] = probability(body["attributeScores"]["TOXICITY"]["summaryScore"])
    assert scores["benign"] <= threshold < scores["abusive"], scores


def test_coral_german_tenant_gets_perspectives_language_error(api):
    # convertLanguage("de") -> "de": the offline backend answers English only. Coral logs
    # "could not determine comment toxicity" and publishes the comment unscored.
    response = send_coral(
        api, "comments:analyze", coral_analyze(BENIGN, "de"), endpoint="http://testserver/v1alpha1"
    )
    assert response.status_code == 400
    assert response.json() == error_envelope(
        "Attribute TOXICITY does not support request languages: de",
        "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
    )


def test_coral_moderator_feedback_is_stored_per_community_and_attribute(api):
    cases = [("c-1", None, "APPROVED", 0.0), ("c-2", "c-1", "DELETED", 1.0)]
    for comment_id, parent_id, status, _ in cases:
        body = coral_suggest(
            ABUSIVE if status == "DELETED" else BENIGN, comment_id, parent_id, status
        )
        response = send_coral(
            api, "comments:suggestscore", body, endpoint="http://testserver/v1alpha1/"
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"clientToken": f"comment:{comment_id}"}
    page = api.get(
        "/v1/perspective/suggestions",
        params={
            "community_id": "Coral:https://comments.news.example.com/",
            "attribute": "TOXICITY",
        },
        headers=auth("admin"),
    ).json()
    got = [(s["client_token"], s["attribute"], s["value"]) for s in page["items"]]
    assert got == [(f"comment:{c}", "TOXICITY", v) for c, _, _, v in cases]
    # The label keeps Coral's context entry (its comment URL and ids) as it was sent.
    sent = coral_suggest(ABUSIVE, "c-2", "c-1", "DELETED")["context"]["entries"][0]["text"]
    assert page["items"][1]["context"] == {"entries": [sent]}
    other = api.get(
        "/v1/perspective/suggestions",
        params={"community_id": "Coral:https://other.example.org/"},
        headers=auth("admin"),
    ).json()
    assert other["items"] == []


# --- Discourse ------------------------------------------------------------------------------


def discourse_body(raw: str, user_id: int | None, model: str = "standard") -> bytes:
    # AnalyzeComment#to_json: the post's raw text cut 4 characters at a time while it is over
    # 20.kilobytes bytes, doNotStore, a session id, then the model's attribute.
    while len(raw.encode()) > 20 * 1024:
        raw = raw[:-4]
    payload: dict[str, Any] = {
        "comment": {"text": raw},
        "doNotStore": True,
        "sessionId": f"https://forum.example.org_{user_id or 'anonymous'}",
    }
    attribute = {"standard": "TOXICITY", "severe toxicity (experimental)": "SEVERE_TOXICITY"}
    payload["requestedAttributes"] = {attribute[model]: {"scoreType": "PROBABILITY"}}
    return json.dumps(payload, separators=(",", ":")).encode()


def send_discourse(api: TestClient, body: bytes):
    # score_comment: Excon.new(GOOGLE_API_DOMAIN).request(method: :post, path:
    # ANALYZE_COMMENT_ENDPOINT, query: {key: SiteSetting.perspective_google_api_key}, ...)
    return api.post(
        "/v1alpha1/comments:analyze",
        params={"key": KEY},
        content=body,
        headers={
            "Accept": "*/*",
            "Content-Length": str(len(body)),
            "Content-Type": "application/json",
            "User-Agent": "Discourse/3.4.0",
        },
    )


def discourse_score(response_body: str) -> float:
    """extract_value_from_analyze_comment_response: each attribute's summaryScore.value, or
    0.0 for anything it cannot read (an error body too)."""
    try:
        data = json.loads(response_body)
        return float(
            [
                a.get("summaryScore", {}).get("value") or 0.0
                for a in data["attributeScores"].values()
            ][-1]
        )
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return 0.0


def test_discourse_post_check_gets_a_score_and_the_detected_language(api):
    markdown = "**Great write-up.** I especially liked the part about the [new park](https://example.org/park)."
    for raw, user in ((markdown, 42), (ABUSIVE, None)):
        response = send_discourse(api, discourse_body(raw, user))
        assert response.status_code == 200, response.text
        body = response.json()
        # No languages in the request: detected, and reported as Perspective does.
        assert set(body) == {"attributeScores", "languages", "detectedLanguages"}, body
        assert body["detectedLanguages"][0] == "en"
        assert body["languages"] == ["en"]
        assert list(body["attributeScores"]) == ["TOXICITY"]
        assert list(body["attributeScores"]["TOXICITY"]) == ["summaryScore"]
        value = probability(body["attributeScores"]["TOXICITY"]["summaryScore"])
        assert discourse_score(response.text) == value
    assert discourse_score(send_discourse(api, discourse_body(ABUSIVE, 7)).text) > 0.9


def test_discourse_cuts_long_posts_to_what_we_accept(api):
    raw = ("A long and careful reply about the council budget. " * 500)[:30_000]
    body = discourse_body(raw, 42)
    assert len(json.loads(body)["comment"]["text"].encode()) <= 20480
    response = send_discourse(api, body)
    assert response.status_code == 200, response.text
    probability(response.json()["attributeScores"]["TOXICITY"]["summaryScore"])


def test_discourse_severe_toxicity_setting_is_answered_by_the_offline_model(api):
    # The offline model has Detoxify's labels, so Discourse's "severe toxicity" setting gets
    # a score (it read as 0.0, never flagging a post, when the model had toxicity alone).
    response = send_discourse(api, discourse_body(ABUSIVE, 42, "severe toxicity (experimental)"))
    assert response.status_code == 200, response.text
    assert list(response.json()["attributeScores"]) == ["SEVERE_TOXICITY"]
    assert discourse_score(response.text) > 0.5


# --- Node perspective-api-client -------------------------------------------------------------


def test_node_client_analyze_with_attribute_names_and_html_stripped(api):
    # perspective.analyze('<p>What kind of idiot name is foo?</p>', {attributes: ['toxicity',
    # 'spam']}): striptags, upper-cased attribute names, doNotStore default true.
    body = {
        "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
        "requestedAttributes": {"TOXICITY": {}, "SPAM": {}},
        "doNotStore": True,
    }
    response = api.post(
        "/v1alpha1/comments:analyze",
        params={"key": KEY},
        content=json.dumps(body, separators=(",", ":")),
        headers={
            "Accept": "application/json, text/plain, */*",
            "Content-Type": "application/json",
            "User-Agent": "axios/1.7.7",
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {"attributeScores", "languages", "detectedLanguages"}, data
    assert set(data["attributeScores"]) == {"TOXICITY", "SPAM"}
    for scores in data["attributeScores"].values():
        assert list(scores) == ["summaryScore"]
        probability(scores["summaryScore"])


def test_node_client_shows_the_envelopes_message_on_error(api):
    # .catch(error => _.get(error, 'response.data.error.message', error.message))
    response = api.post(
        "/v1alpha1/comments:analyze",
        params={"key": "wrong"},
        json={
            "comment": {"text": "hi"},
            "requestedAttributes": {"TOXICITY": {}},
            "doNotStore": True,
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "API key not valid. Please pass a valid API key."


# --- Google's Python client -------------------------------------------------------------------


class AppHttp:
    """httplib2.Http's ``request`` over the app's test client: the Python client runs as it
    is; only the socket is not a socket."""

    def __init__(self, client: TestClient):
        self.client = client
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def request(self, uri, method="GET", body=None, headers=None, **_: Any):  # type: ignore[no-untyped-def]
        self.sent.append((method, uri, dict(headers or {})))
        response = self.client.request(method, uri, content=body, headers=headers)
        info = {"status": str(response.status_code), **response.headers}
        return httplib2.Response(info), response.content


def python_client(api: TestClient, key: str = KEY):  # type: ignore[no-untyped-def]
    http = AppHttp(api)
    client = discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl="http://testserver/$discovery/rest?version=v1alpha1",
        static_discovery=False,
        http=http,
    )
    return client, http


def test_python_client_quickstart_request_and_response(api):
    client, http = python_client(api)
    analyze_request = {
        "comment": {"text": "friendly greetings from python"},
        "requestedAttributes": {"TOXICITY": {}},
    }
    response = client.comments().analyze(body=analyze_request).execute()
    method, uri, headers = http.sent[-1]
    assert (method, uri) == (
        "POST",
        f"http://testserver/v1alpha1/comments:analyze?key={KEY}&alt=json",
    )
    assert headers["content-type"] == "application/json"
    assert headers["x-goog-api-client"].startswith("gdcl/")
    assert set(response) == {"attributeScores", "languages", "detectedLanguages"}, response
    assert response["languages"] == ["en"]
    assert list(response["attributeScores"]["TOXICITY"]) == ["summaryScore"]
    assert probability(response["attributeScores"]["TOXICITY"]["summaryScore"]) < 0.5


def test_python_client_errors_are_http_errors_with_perspectives_details(api):
    client, _ = python_client(api)
    with pytest.raises(HttpError) as missing:
        client.comments().analyze(body={"comment": {"text": "hello"}}).execute()
    assert missing.value.status_code == 400
    assert missing.value.reason == "Missing requested_attributes"
    assert missing.value.error_details == [
        {"@type": ERROR_TYPE, "errorType": "NO_REQUESTED_ATTRIBUTES"}
    ]
    with pytest.raises(HttpError) as too_long:
        client.comments().analyze(
            body={"comment": {"text": "é" * 10241}, "requestedAttributes": {"TOXICITY": {}}}
        ).execute()
    assert too_long.value.status_code == 400
    assert too_long.value.reason == "Comment text too long."
    assert too_long.value.error_details == [{"@type": ERROR_TYPE, "errorType": "COMMENT_TOO_LONG"}]
