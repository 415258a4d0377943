"""The discovery document of the Perspective-compatible API.

Google's client libraries build ``comments().analyze()`` and ``comments().suggestscore()``
from this document (``googleapiclient.discovery.build("commentanalyzer", "v1alpha1",
developerKey=KEY, discoveryServiceUrl=BASE + "/$discovery/rest?version=v1alpha1",
static_discovery=False)``; Node's ``googleapis.discoverAPI`` reads the same format).

It describes this service, not Google's:

- ``rootUrl`` is the base URL the document was asked for at, so the client calls back the
  host (and path prefix) it discovered from; ``servicePath`` is empty and each method's
  ``path`` is ``v1alpha1/comments:...``, as the Perspective paths are.
- No OAuth scopes: keys only. A declared scope makes Google's client look for Google
  credentials when no ``developerKey`` is given.
- No ``mtlsRootUrl``: the client would switch to it under ``GOOGLE_API_USE_MTLS_ENDPOINT``.
- No ``batchPath``: there is no batch endpoint.

Pure: the route passes the base URL in; nothing here reads a file or a socket.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from moderation import __version__

SERVICE_NAME = "commentanalyzer"
"""The API name Google's clients are built with (``build("commentanalyzer", ...)``)."""

VERSION = "v1alpha1"
"""The only version served; the paths start with it."""

ANALYZE_PATH = f"{VERSION}/comments:analyze"
SUGGEST_PATH = f"{VERSION}/comments:suggestscore"

SCORE_TYPES = ["SCORE_TYPE_UNSPECIFIED", "PROBABILITY", "STD_DEV_SCORE", "PERCENTILE", "RAW"]
TEXT_TYPES = ["TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT", "HTML"]

JsonObject = dict[str, Any]


def _string(description: str, *, enum: list[str] | None = None) -> JsonObject:
    out: JsonObject = {"type": "string", "description": description}
    if enum is not None:
        out["enum"] = list(enum)
    return out


def _strings(description: str) -> JsonObject:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def _ref(name: str, description: str) -> JsonObject:
    return {"$ref": name, "description": description}


def _schema(name: str, description: str, properties: dict[str, JsonObject]) -> JsonObject:
    return {"id": name, "type": "object", "description": description, "properties": properties}


def _float(description: str) -> JsonObject:
    return {"type": "number", "format": "float", "description": description}


def _int32(description: str) -> JsonObject:
    return {"type": "integer", "format": "int32", "description": description}


_LANGUAGES = (
    "Language codes of the comment (ISO 639-1, or BCP-47 whose primary subtag is used). When "
    "absent the language is detected. Every requested attribute must support every language, "
    "else the request fails with LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE (see docs/perspective.md)."
)

SCHEMAS: dict[str, JsonObject] = {
    "TextEntry": _schema(
        "TextEntry",
        "A piece of text: the comment, its article or a parent comment.",
        {
            "text": _string("The text, at most 20480 bytes of UTF-8 for the comment."),
            "type": _string(
                "PLAIN_TEXT (the default) or HTML, whose tags are removed before scoring.",
                enum=TEXT_TYPES,
            ),
        },
    ),
    "Context": _schema(
        "Context",
        "What the comment answers: either entries or articleAndParentComment, never both.",
        {
            "entries": {
                "type": "array",
                "items": {"$ref": "TextEntry"},
                "description": "Texts around the comment, such as the thread before it.",
            },
            "articleAndParentComment": _ref(
                "ArticleAndParentComment", "The article and, for a reply, its parent comment."
            ),
        },
    ),
    "ArticleAndParentComment": _schema(
        "ArticleAndParentComment",
        "The article a comment is under and the comment it replies to.",
        {
            "article": _ref("TextEntry", "The article (or its summary)."),
            "parentComment": _ref("TextEntry", "The comment replied to, for a reply."),
        },
    ),
    "AttributeParameters": _schema(
        "AttributeParameters",
        "How to score one requested attribute.",
        {
            "scoreType": _string(
                "The type of score to return; scores are probabilities (PROBABILITY).",
                enum=SCORE_TYPES,
            ),
            "scoreThreshold": _float(
                "Scores below this value are not returned: the attribute has no summaryScore."
            ),
        },
    ),
    "AnalyzeCommentRequest": _schema(
        "AnalyzeCommentRequest",
        "A comment to score and the attributes to score it for.",
        {
            "comment": _ref("TextEntry", "The comment to score."),
            "context": _ref("Context", "What the comment answers (needed by OFF_TOPIC)."),
            "requestedAttributes": {
                "type": "object",
                "additionalProperties": {"$ref": "AttributeParameters"},
                "description": (
                    "Attribute names (NAME or NAME@VERSION) to their parameters. The "
                    "attributes this service scores are listed in docs/perspective.md."
                ),
            },
            "languages": _strings(_LANGUAGES),
            "doNotStore": {
                "type": "boolean",
                "description": "Store nothing of the request: no text, no scores, no logs.",
            },
            "spanAnnotations": {
                "type": "boolean",
                "description": "Also return spanScores where an attribute can point at words.",
            },
            "clientToken": _string("Echoed in the response."),
            "sessionId": _string("Stored with the request (unless doNotStore)."),
            "communityId": _string("The community the comment belongs to; stored with it."),
            "dropUnsupportedAttributes": {
                "type": "boolean",
                "description": (
                    "Leave out attributes this service cannot score for the request instead "
                    "of failing."
                ),
            },
        },
    ),
    "AnalyzeCommentResponse": _schema(
        "AnalyzeCommentResponse",
        "The scores of a comment.",
        {
            "attributeScores": {
                "type": "object",
                "additionalProperties": {"$ref": "AttributeScores"},
                "description": "Requested attribute name to its scores.",
            },
            "languages": _strings("The languages the comment was scored in."),
            "detectedLanguages": _strings("The languages detected, when none was given."),
            "clientToken": _string("The request's clientToken."),
        },
    ),
    "AttributeScores": _schema(
        "AttributeScores",
        "One attribute's scores: for the whole comment, and per span when asked for.",
        {
            "summaryScore": _ref("Score", "The score of the whole comment."),
            "spanScores": {
                "type": "array",
                "items": {"$ref": "SpanScore"},
                "description": "Scores of parts of the comment (spanAnnotations).",
            },
        },
    ),
    "Score": _schema(
        "Score",
        "A score value and its type.",
        {
            "value": _float("The score; a probability in [0, 1]."),
            "type": _string("The score's type.", enum=SCORE_TYPES),
        },
    ),
    "SpanScore": _schema(
        "SpanScore",
        "The score of a part of the comment.",
        {
            "begin": _int32("Start of the span in UTF-16 code units of the comment text."),
            "end": _int32("End of the span (exclusive) in UTF-16 code units."),
            "score": _ref("Score", "The span's score."),
        },
    ),
    "SuggestCommentScoreRequest": _schema(
        "SuggestCommentScoreRequest",
        "A score a moderator or client gives a comment, kept as a label for calibration.",
        {
            "comment": _ref("TextEntry", "The comment labelled."),
            "context": _ref("Context", "What the comment answers."),
            "attributeScores": {
                "type": "object",
                "additionalProperties": {"$ref": "AttributeScores"},
                "description": (
                    "Attribute name to the suggested score (summaryScore.value: 0 or 1 for a "
                    "yes/no label; type PROBABILITY when absent)."
                ),
            },
            "languages": _strings("The languages of the comment."),
            "communityId": _string("The community the label belongs to."),
            "clientToken": _string("Echoed in the response."),
            "sessionId": _string("Stored with the label."),
            "doNotStore": {
                "type": "boolean",
                "description": (
                    "Not Perspective's (it stores every suggestion): true keeps the comment's "
                    "text out of the stored label."
                ),
            },
        },
    ),
    "SuggestCommentScoreResponse": _schema(
        "SuggestCommentScoreResponse",
        "The answer to a suggested score.",
        {
            "clientToken": _string("The request's clientToken."),
            "detectedLanguages": _strings("The languages detected, when none was given."),
            "requestedLanguages": _strings("The request's languages."),
        },
    ),
}

PARAMETERS: dict[str, JsonObject] = {
    "key": {
        "type": "string",
        "location": "query",
        "description": "API key (also accepted as x-goog-api-key or Authorization: Bearer).",
    },
    "alt": {
        "type": "string",
        "location": "query",
        "default": "json",
        "enum": ["json"],
        "enumDescriptions": ["Responses with Content-Type of application/json"],
        "description": "Data format for the response; JSON only.",
    },
    "fields": {
        "type": "string",
        "location": "query",
        "description": "Accepted for compatibility; the whole response is returned.",
    },
    "prettyPrint": {
        "type": "boolean",
        "location": "query",
        "default": "true",
        "description": "Accepted for compatibility; the response is compact JSON.",
    },
    "$.xgafv": {
        "type": "string",
        "location": "query",
        "enum": ["1", "2"],
        "enumDescriptions": ["v1 error format", "v2 error format"],
        "description": "Accepted for compatibility; errors use Google's error envelope.",
    },
}


def _method(name: str, path: str, request: str, response: str, description: str) -> JsonObject:
    return {
        "id": f"{SERVICE_NAME}.comments.{name}",
        "path": path,
        "flatPath": path,
        "httpMethod": "POST",
        "description": description,
        "parameters": {},
        "parameterOrder": [],
        "request": {"$ref": request},
        "response": {"$ref": response},
    }


_TEMPLATE: JsonObject = {
    "kind": "discovery#restDescription",
    "discoveryVersion": "v1",
    "id": f"{SERVICE_NAME}:{VERSION}",
    "name": SERVICE_NAME,
    "version": VERSION,
    "revision": __version__,
    "title": "Perspective-compatible Comment Analyzer (comment moderation service)",
    "description": (
        "Scores comments for toxicity, off-topic and spam on the site's own machines, "
        "answering the Perspective API's comments:analyze and comments:suggestscore."
    ),
    "protocol": "rest",
    "rootUrl": "",
    "baseUrl": "",
    "basePath": "",
    "servicePath": "",
    "parameters": PARAMETERS,
    "schemas": SCHEMAS,
    "resources": {
        "comments": {
            "methods": {
                "analyze": _method(
                    "analyze",
                    ANALYZE_PATH,
                    "AnalyzeCommentRequest",
                    "AnalyzeCommentResponse",
                    "Scores a comment for the requested attributes.",
                ),
                "suggestscore": _method(
                    "suggestscore",
                    SUGGEST_PATH,
                    "SuggestCommentScoreRequest",
                    "SuggestCommentScoreResponse",
                    "Stores a client's score for a comment (a moderator's approve or reject).",
                ),
            }
        }
    },
}


def discovery_document(root_url: str) -> JsonObject:
    """The document for a service reached at ``root_url`` (``http://host:port/`` or with a
    path prefix); a trailing slash is added when missing, as ``rootUrl`` needs one."""
    parts = urlsplit(root_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"root_url must be an absolute http(s) URL, got {root_url!r}")
    if not root_url.endswith("/"):
        root_url += "/"
    doc = copy.deepcopy(_TEMPLATE)
    doc["rootUrl"] = root_url
    doc["baseUrl"] = root_url
    doc["basePath"] = urlsplit(root_url).path
    return doc


def version_not_found(version: str) -> str:
    """The message for a discovery request naming a version this service does not serve."""
    return (
        f"Discovery document not found for API service {SERVICE_NAME} version {version!r}: "
        f"this service serves version {VERSION}."
    )
