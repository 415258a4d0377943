"""The discovery document (``GET /$discovery/rest?version=v1alpha1``): Google's client
library builds the Perspective API from it and calls this service back, unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from googleapiclient.discovery import build_from_document

from moderation.perspective import wire
from moderation.perspective.discovery import SCHEMAS, discovery_document

DISCOVERY_URL = "/$discovery/rest?version=v1alpha1"


def test_the_document_describes_this_service_at_the_url_it_was_fetched_from(client):
    # googleapiclient appends the developer key to the discovery URL: accepted, not checked.
    response = client.get(DISCOVERY_URL + "&key=not-a-key-of-ours")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc == discovery_document("http://testserver/")
    assert {k: doc[k] for k in ("rootUrl", "baseUrl", "basePath", "servicePath")} == {
        "rootUrl": "http://testserver/",
        "baseUrl": "http://testserver/",
        "basePath": "/",
        "servicePath": "",
    }
    assert (doc["kind"], doc["discoveryVersion"], doc["protocol"]) == (
        "discovery#restDescription",
        "v1",
        "rest",
    )
    assert (doc["id"], doc["name"], doc["version"]) == (
        "commentanalyzer:v1alpha1",
        "commentanalyzer",
        "v1alpha1",
    )
    # Keys only: no OAuth scopes (Google's client would look for Google credentials), no
    # mTLS root (it would switch to it), no batch path (there is no batch endpoint).
    assert not {"auth", "mtlsRootUrl", "batchPath"} & doc.keys()
    assert sorted(doc["parameters"]) == ["$.xgafv", "alt", "fields", "key", "prettyPrint"]
    assert all(p["location"] == "query" for p in doc["parameters"].values())
    assert doc["resources"]["comments"]["methods"] == {
        "analyze": {
            "id": "commentanalyzer.comments.analyze",
            "path": "v1alpha1/comments:analyze",
            "flatPath": "v1alpha1/comments:analyze",
            "httpMethod": "POST",
            "description": "Scores a comment for the requested attributes.",
            "parameters": {},
            "parameterOrder": [],
            "request": {"$ref": "AnalyzeCommentRequest"},
            "response": {"$ref": "AnalyzeCommentResponse"},
        },
        "suggestscore": {
            "id": "commentanalyzer.comments.suggestscore",
            "path": "v1alpha1/comments:suggestscore",
            "flatPath": "v1alpha1/comments:suggestscore",
            "httpMethod": "POST",
            "description": (
                "Stores a client's score for a comment (a moderator's approve or reject)."
            ),
            "parameters": {},
            "parameterOrder": [],
            "request": {"$ref": "SuggestCommentScoreRequest"},
            "response": {"$ref": "SuggestCommentScoreResponse"},
        },
    }


def test_without_a_version_the_one_version_is_served(client):
    response = client.get("/$discovery/rest")
    assert response.status_code == 200
    assert response.json()["version"] == "v1alpha1"


def test_a_version_not_served_is_not_found_in_googles_envelope(client):
    response = client.get("/$discovery/rest?version=v1")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": 404,
            "message": "Discovery document not found for API service commentanalyzer "
            "version 'v1': this service serves version v1alpha1.",
            "status": "NOT_FOUND",
            "details": [],
        }
    }


def test_every_method_is_a_route_of_the_app(client):
    doc = client.get(DISCOVERY_URL).json()
    paths = client.get("/openapi.json").json()["paths"]
    for method in doc["resources"]["comments"]["methods"].values():
        assert method["httpMethod"].lower() in paths.get("/" + method["path"], {}), method["id"]


def test_a_path_prefix_is_kept_and_root_url_ends_with_a_slash():
    doc = discovery_document("https://example.org/moderation")
    assert (doc["rootUrl"], doc["baseUrl"], doc["basePath"]) == (
        "https://example.org/moderation/",
        "https://example.org/moderation/",
        "/moderation/",
    )
    client = build_from_document(doc, developerKey="KEY")
    request = client.comments().analyze(body={"comment": {"text": "hi"}})
    assert request.uri == (
        "https://example.org/moderation/v1alpha1/comments:analyze?key=KEY&alt=json"
    )


@pytest.mark.parametrize("root", ["/v1alpha1", "example.org", "ftp://example.org/"])
def test_root_url_must_be_an_absolute_http_url(root):
    with pytest.raises(ValueError) as exc:
        discovery_document(root)
    assert str(exc.value) == f"root_url must be an absolute http(s) URL, got {root!r}"


def test_googles_client_built_from_it_calls_this_service_as_perspective_is_called():
    """What ``discovery.build(...)`` makes of the document, without sending anything."""
    client = build_from_document(discovery_document("http://127.0.0.1:8000/"), developerKey="K")
    body = {"comment": {"text": "friendly greetings"}, "requestedAttributes": {"TOXICITY": {}}}
    analyze = client.comments().analyze(body=body)
    assert analyze.method == "POST"
    assert analyze.uri == "http://127.0.0.1:8000/v1alpha1/comments:analyze?key=K&alt=json"
    assert analyze.headers["content-type"] == "application/json"
    assert json.loads(analyze.body) == body
    suggest = client.comments().suggestscore(
        body={"comment": {"text": "x"}, "attributeScores": {"TOXICITY": {"summaryScore": {}}}}
    )
    assert suggest.uri == "http://127.0.0.1:8000/v1alpha1/comments:suggestscore?key=K&alt=json"
    # The standard parameters are accepted as keyword arguments, as with Google's document.
    with_fields = client.comments().analyze(body=body, fields="attributeScores", prettyPrint=False)
    assert with_fields.uri.endswith(
        "comments:analyze?fields=attributeScores&prettyPrint=false&key=K&alt=json"
    )


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["$ref"]} if "$ref" in node else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_reference_names_a_schema_and_every_schema_is_used():
    doc = discovery_document("http://127.0.0.1:8000/")
    assert _refs(doc) == set(doc["schemas"])
    for name, schema in doc["schemas"].items():
        assert schema["id"] == name
        assert schema["type"] == "object"


# The request schemas must list exactly the fields the endpoint reads, by their wire names.
WIRE_MODELS = {
    "TextEntry": wire.TextEntry,
    "Context": wire.Context,
    "ArticleAndParentComment": wire.ArticleAndParentComment,
    "AttributeParameters": wire.AttributeParameters,
    "AnalyzeCommentRequest": wire.AnalyzeCommentRequest,
    "AnalyzeCommentResponse": wire.AnalyzeCommentResponse,
    "AttributeScores": wire.AttributeScores,
    "Score": wire.Score,
    "SpanScore": wire.SpanScore,
    "SuggestCommentScoreRequest": wire.SuggestCommentScoreRequest,
    "SuggestCommentScoreResponse": wire.SuggestCommentScoreResponse,
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_fields_are_the_wire_models_fields(name):
    model = WIRE_MODELS[name]
    wire_names = {field.alias or key for key, field in model.model_fields.items()}
    assert set(SCHEMAS[name]["properties"]) == wire_names
