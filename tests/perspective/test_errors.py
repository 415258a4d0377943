from __future__ import annotations

from moderation.perspective import errors


def test_the_envelope_is_googles():
    assert errors.comment_empty().body() == {
        "error": {
            "code": 400,
            "message": "Comment must be non-empty.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
                    "errorType": "COMMENT_EMPTY",
                }
            ],
        }
    }


def test_quota_errors_carry_googles_error_info():
    exc = errors.quota_exceeded("Analysis requests (AnalyzeComment)", 2, "publisher-1")
    assert exc.code == 429
    assert exc.body()["error"] == {
        "code": 429,
        "message": "Quota exceeded for quota metric 'Analysis requests (AnalyzeComment)' and "
        "limit 'Analysis requests (AnalyzeComment) per second per key' of service "
        "'commentanalyzer.googleapis.com' for consumer 'api_key:publisher-1'.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": "commentanalyzer.googleapis.com",
                    "quota_metric": "Analysis requests (AnalyzeComment)",
                    "quota_limit_value": "2",
                    "consumer": "api_key:publisher-1",
                },
            }
        ],
    }


def test_validation_errors_name_the_proto_field():
    exc = errors.from_validation(
        [
            {
                "type": "float_parsing",
                "loc": ("body", "requestedAttributes", "TOXICITY", "scoreThreshold"),
                "msg": "Input should be a valid number",
            },
            {"type": "list_type", "loc": ("body", "languages"), "msg": "Input should be a list"},
        ]
    )
    assert exc.message == (
        "Invalid JSON payload received. Invalid value at "
        "'requested_attributes.TOXICITY.score_threshold': Input should be a valid number; "
        "Invalid value at 'languages': Input should be a list"
    )
    assert exc.error_type is errors.ErrorType.INVALID_REQUEST


def test_routing_errors_are_not_found():
    assert errors.from_http(405, "GET", "/v1alpha1/comments:analyze").body()["error"] == {
        "code": 404,
        "message": "Method GET /v1alpha1/comments:analyze is not found.",
        "status": "NOT_FOUND",
        "details": [],
    }
