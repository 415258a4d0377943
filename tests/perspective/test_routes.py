"""The two methods through the app, with the real offline scorers: whole responses."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moderation.db.models import Base, PerspectiveRequest, PerspectiveSuggestion
from moderation.perspective.analyzer import Job, score_jobs
from moderation.scoring.detoxify import TOXICITY_LABELS
from tests.conftest import auth
from tests.perspective.conftest import ADMIN, ANALYZE, MODERATOR, PUB, SUGGEST, analyze

FIXTURES = Path(__file__).parent / "fixtures"
ANALYZE_ERRORS = json.loads((FIXTURES / "analyze_errors.json").read_text())
SUGGEST_ERRORS = json.loads((FIXTURES / "suggest_errors.json").read_text())
KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "commentanalyzer.googleapis.com"},
            }
        ],
    }
}
TOXIC = "😀 you are a stupid idiot"
CIVIL = "The council should publish the full budget, not a summary."


@pytest.mark.parametrize("case", ANALYZE_ERRORS, ids=[c["name"] for c in ANALYZE_ERRORS])
def test_analyze_errors_are_perspectives(pclient: TestClient, case):
    r = analyze(pclient, case["request"])
    assert (r.status_code, r.json()) == (case["status"], case["response"])


@pytest.mark.parametrize("case", SUGGEST_ERRORS, ids=[c["name"] for c in SUGGEST_ERRORS])
def test_suggest_errors_are_perspectives(pclient: TestClient, case):
    r = pclient.post(SUGGEST, params={"key": PUB}, json=case["request"])
    assert (r.status_code, r.json()) == (case["status"], case["response"])


def test_malformed_json_is_invalid_argument(pclient: TestClient):
    r = pclient.post(
        ANALYZE,
        params={"key": PUB},
        content=b'{"comment": ',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    body = r.json()["error"]
    assert body["status"] == "INVALID_ARGUMENT"
    assert body["message"].startswith("Invalid JSON payload received. ")


BODY = {"comment": {"text": CIVIL}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"key": PUB}, {}),
        ({}, {"x-goog-api-key": PUB}),
        ({}, {"Authorization": f"Bearer {PUB}"}),
        ({"key": ADMIN}, {}),
        # What Google's clients add to the query: accepted and ignored.
        ({"key": PUB, "alt": "json", "prettyPrint": "false", "$.xgafv": "2", "fields": "x"}, {}),
    ],
)
def test_the_key_in_each_place_google_clients_put_it(pclient: TestClient, params, headers):
    r = pclient.post(ANALYZE, params=params, headers=headers, json=BODY)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"attributeScores", "languages"}


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({}, {}),
        ({"key": "not-a-key-at-all-0000"}, {}),
        ({"key": MODERATOR}, {}),  # moderators review; they do not score
        ({}, {"Authorization": "Basic abc"}),
    ],
)
def test_a_missing_or_invalid_key_is_refused_as_google_does(pclient: TestClient, params, headers):
    for path in (ANALYZE, SUGGEST):
        r = pclient.post(path, params=params, headers=headers, json=BODY)
        assert (r.status_code, r.json()) == (400, KEY_INVALID)


def test_a_whole_analysis_with_spans_in_utf16_offsets(pclient: TestClient):
    r = analyze(
        pclient,
        {
            "comment": {"text": TOXIC},
            "requestedAttributes": {"TOXICITY": {}, "SPAM": {}},
            "spanAnnotations": True,
            "clientToken": "tok-1",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"attributeScores", "languages", "detectedLanguages", "clientToken"}
    assert body["languages"] == ["en"] and body["detectedLanguages"] == ["en"]
    assert body["clientToken"] == "tok-1"
    toxicity = body["attributeScores"]["TOXICITY"]
    assert set(toxicity) == {"summaryScore", "spanScores"}
    assert toxicity["summaryScore"]["type"] == "PROBABILITY"
    assert toxicity["summaryScore"]["value"] > 0.8
    units = TOXIC.encode("utf-16-le")
    words = [
        units[s["begin"] * 2 : s["end"] * 2].decode("utf-16-le") for s in toxicity["spanScores"]
    ]
    # The emoji before the words is two UTF-16 units: "idiot" is units 20..25, not 19..24.
    assert "idiot" in words and all(w in TOXIC.split() for w in words)
    idiot = toxicity["spanScores"][words.index("idiot")]
    assert (idiot["begin"], idiot["end"]) == (20, 25)
    assert idiot["score"]["type"] == "PROBABILITY" and 0.5 < idiot["score"]["value"] <= 1
    assert set(body["attributeScores"]["SPAM"]) == {"summaryScore"}  # no spans for SPAM


def test_spans_of_an_html_comment_point_into_the_markup(pclient: TestClient):
    text = "<p>😀 you <b>idiot</b></p>"
    r = analyze(
        pclient,
        {
            "comment": {"text": text, "type": "HTML"},
            "requestedAttributes": {"TOXICITY": {}},
            "spanAnnotations": True,
            "languages": ["en"],
        },
    )
    spans = r.json()["attributeScores"]["TOXICITY"]["spanScores"]
    units = text.encode("utf-16-le")
    assert [units[s["begin"] * 2 : s["end"] * 2].decode("utf-16-le") for s in spans] == ["idiot"]


def test_score_threshold_leaves_out_the_summary_score(pclient: TestClient):
    r = analyze(
        pclient,
        {
            "comment": {"text": CIVIL},
            "requestedAttributes": {
                "TOXICITY": {"scoreThreshold": 0.9},
                "SPAM": {"scoreThreshold": 0.0},
            },
            "languages": ["en"],
        },
    )
    assert r.status_code == 200, r.text
    scores = r.json()["attributeScores"]
    assert scores["TOXICITY"] == {}  # under its threshold: the entry, without summaryScore
    assert set(scores["SPAM"]) == {"summaryScore"}


def test_drop_unsupported_attributes_answers_the_rest(pclient: TestClient):
    r = analyze(
        pclient,
        {
            "comment": {"text": CIVIL},
            "requestedAttributes": {"TOXICITY@2": {}, "INSULT": {}, "OFF_TOPIC": {}},
            "dropUnsupportedAttributes": True,
        },
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["attributeScores"]) == {"TOXICITY@2", "INSULT"}  # no context: no OFF_TOPIC


ARTICLE = (
    "The city council approved next year's budget on Tuesday after a long debate about "
    "school funding, bus lanes and the cost of repairing the old bridge."
)


@pytest.mark.parametrize(
    "context",
    [
        {"articleAndParentComment": {"article": {"text": ARTICLE}}},
        {"articleAndParentComment": {"parentComment": {"text": ARTICLE}}},
        {"entries": [{"text": ARTICLE}]},
        {"article_and_parent_comment": {"article": {"text": f"<p>{ARTICLE}</p>", "type": "HTML"}}},
    ],
    ids=["article", "parent comment", "entries", "snake_case and HTML"],
)
def test_both_context_forms_give_off_topic(pclient: TestClient, context):
    def off_topic(text: str) -> float:
        r = analyze(
            pclient,
            {
                "comment": {"text": text},
                "context": context,
                "requestedAttributes": {"OFF_TOPIC": {}, "UNSUBSTANTIAL": {}},
                "languages": ["en"],
            },
        )
        assert r.status_code == 200, r.text
        return float(r.json()["attributeScores"]["OFF_TOPIC"]["summaryScore"]["value"])

    on = off_topic("The council should not cut school funding to pay for the bridge repairs.")
    off = off_topic("Does anyone have a good recipe for banana bread with walnuts?")
    assert on < 0.5 < off


def test_likely_to_reject_is_the_rules_decision(pclient: TestClient):
    def value(text: str) -> float:
        r = analyze(
            pclient,
            {"comment": {"text": text}, "requestedAttributes": {"LIKELY_TO_REJECT": {}}},
        )
        return float(r.json()["attributeScores"]["LIKELY_TO_REJECT"]["summaryScore"]["value"])

    assert value("nobody asked, k.y.s") == 1.0  # the severe-abuse word list: reject
    assert value(CIVIL) == 0.0  # approve


def _rows(session_factory) -> dict[str, int]:
    with session_factory() as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }


def test_do_not_store_leaves_nothing_in_the_database_redis_or_logs(
    pclient: TestClient, session_factory, redis_conn, caplog
):
    marker = "zebracorn marker text you idiot"
    caplog.set_level(logging.DEBUG)
    for extra in ({"spanAnnotations": True}, {}):
        r = analyze(
            pclient,
            {
                "comment": {"text": marker},
                "context": {"entries": [{"text": "zebracorn article"}]},
                "requestedAttributes": {"TOXICITY": {}, "SPAM": {}, "LIKELY_TO_REJECT": {}},
                "doNotStore": True,
                **extra,
            },
        )
        assert r.status_code == 200, r.text
    # A failing request is not logged with its text either.
    assert analyze(pclient, {"comment": {"text": marker}, "doNotStore": True}).status_code == 400
    rows = _rows(session_factory)
    assert rows["perspective_requests"] == 0 and rows["comments"] == 0
    assert "zebracorn" not in caplog.text
    assert not any("zebracorn" in str(rec.args) for rec in caplog.records)
    for key in redis_conn.scan_iter("*"):
        assert b"zebracorn" not in key
        if redis_conn.type(key) == b"string":
            assert b"zebracorn" not in (redis_conn.get(key) or b"")


def test_without_do_not_store_the_request_is_kept_outside_the_queue(
    pclient: TestClient, session_factory
):
    r = analyze(
        pclient,
        {
            "comment": {"text": CIVIL},
            "context": {"articleAndParentComment": {"article": {"text": ARTICLE}}},
            "requestedAttributes": {"TOXICITY": {}, "OFF_TOPIC": {"scoreThreshold": 0.99}},
            "languages": ["en"],
            "communityId": "forum/politics",
            "sessionId": "s-1",
            "clientToken": "c-1",
        },
    )
    assert r.status_code == 200, r.text
    with session_factory() as session:
        row = session.scalars(select(PerspectiveRequest)).one()
        assert (row.text, row.text_type, row.community_id, row.session_id, row.client_token) == (
            CIVIL,
            "PLAIN_TEXT",
            "forum/politics",
            "s-1",
            "c-1",
        )
        assert row.key_name == "publisher-1"
        assert row.context == {"article": ARTICLE}
        assert row.languages == ["en"] and row.detected_languages is None
        assert set(row.scores) == {*TOXICITY_LABELS, "relevance", "spam"}
        answered = r.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
        assert row.attribute_scores["TOXICITY"] == answered
        # Stored: the model's scores (what the rules read) and the answer on Perspective's
        # scale (moderation/perspective/scale.py).
        scale = pclient.app.state.analyzer.scale
        assert scale.maps
        assert answered == pytest.approx(scale.value("toxicity", row.scores["toxicity"]), abs=1e-6)
        assert set(row.attribute_scores) == {"TOXICITY", "OFF_TOPIC"}  # stored before thresholds
    assert _rows(session_factory)["comments"] == 0


def test_lone_surrogates_and_nul_are_scored_and_stored_as_replacement_characters(
    pclient: TestClient, session_factory
):
    # json.dumps writes the lone surrogate as the escape "\\ud800", as a careless client would.
    text = "you a\ud800b idiot\x00!"
    body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}
    r = pclient.post(
        ANALYZE,
        params={"key": PUB},
        content=json.dumps(body),  # ASCII with escapes
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert 0 <= r.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] <= 1
    with session_factory() as session:
        row = session.scalars(select(PerspectiveRequest)).one()
        assert row.text == "you a\ufffdb idiot\ufffd!"  # one for one: offsets stay


CORAL_SUGGESTION = {
    "comment": {"text": "Oi, tudo bem?"},
    "context": {
        "entries": [{"text": '{"url":"https://news.example/story","Coral_comment_id":"c1"}'}]
    },
    "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}},
    "languages": ["pt"],
    "communityId": "Coral:https://comments.example.org/",
    "clientToken": "comment:c1",
}


def test_suggested_scores_are_stored_and_queryable(pclient: TestClient, session_factory):
    r = pclient.post(SUGGEST, params={"key": PUB}, json=CORAL_SUGGESTION)
    assert (r.status_code, r.json()) == (200, {"clientToken": "comment:c1"})
    other = {
        **CORAL_SUGGESTION,
        "attributeScores": {
            "TOXICITY": {"summaryScore": {"value": 1, "type": "PROBABILITY"}},
            "SPAM@1": {"summaryScore": {"value": 0.5}},
        },
        "communityId": "other",
        "clientToken": None,
        "doNotStore": True,
    }
    r = pclient.post(SUGGEST, headers={"x-goog-api-key": ADMIN}, json=other)
    assert (r.status_code, r.json()) == (200, {})
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PerspectiveSuggestion)) == 3

    page = pclient.get(
        "/v1/perspective/suggestions",
        params={"community_id": "Coral:https://comments.example.org/", "attribute": "TOXICITY"},
        headers=auth("admin"),
    )
    assert page.status_code == 200, page.text
    [item] = page.json()["items"]
    assert page.json()["next_after"] is None
    assert {k: v for k, v in item.items() if k not in ("id", "received_at")} == {
        "key_name": "publisher-1",
        "community_id": "Coral:https://comments.example.org/",
        "client_token": "comment:c1",
        "session_id": None,
        "attribute": "TOXICITY",
        "value": 0.0,
        "text": "Oi, tudo bem?",
        "context": {"entries": ['{"url":"https://news.example/story","Coral_comment_id":"c1"}']},
        "languages": ["pt"],
    }
    spam = pclient.get(
        "/v1/perspective/suggestions", params={"attribute": "SPAM"}, headers=auth("admin")
    ).json()["items"]
    assert [(s["value"], s["text"], s["key_name"]) for s in spam] == [(0.5, None, "admin-1")]
    first = pclient.get(
        "/v1/perspective/suggestions", params={"limit": 2}, headers=auth("admin")
    ).json()
    assert len(first["items"]) == 2 and first["next_after"] == first["items"][-1]["id"]
    rest = pclient.get(
        "/v1/perspective/suggestions",
        params={"after": first["next_after"]},
        headers=auth("admin"),
    ).json()
    assert len(rest["items"]) == 1 and rest["next_after"] is None
    assert pclient.get("/v1/perspective/suggestions", headers=auth("publisher")).status_code == 403


def test_over_the_per_key_quota_is_resource_exhausted(perspective_settings):
    from moderation.api.main import create_app

    settings = perspective_settings.model_copy(update={"perspective_qps_per_key": 1})
    with TestClient(create_app(settings)) as client:
        # Five quick requests fall into at most two seconds: at least one is over 1 a second.
        answers = [analyze(client, {"comment": {"text": ""}}).json() for _ in range(5)]
    exhausted = [a for a in answers if a["error"]["code"] == 429]
    assert exhausted, answers
    assert exhausted[0]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert exhausted[0]["error"]["message"].startswith(
        "Quota exceeded for quota metric 'Analysis requests (AnalyzeComment)'"
    )


def test_turned_off_the_methods_say_so(client: TestClient):
    r = client.post(ANALYZE, params={"key": PUB}, json=BODY)
    assert (r.status_code, r.json()["error"]["status"]) == (503, "UNAVAILABLE")
    assert "MODERATION_PERSPECTIVE_ENABLED" in r.json()["error"]["message"]
    assert "perspective" not in client.get("/readyz").json()["checks"]


def test_errors_elsewhere_keep_the_services_own_format(pclient: TestClient):
    r = pclient.post("/v1/comments", json={}, headers=auth("publisher"))
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    assert pclient.get("/readyz").json()["checks"]["perspective"] == {"ok": True}


def test_with_the_model_scale_the_answer_is_the_models_score(perspective_settings):
    from moderation.api.main import create_app

    app = create_app(perspective_settings.model_copy(update={"perspective_scale": "model"}))
    with TestClient(app) as client:
        assert app.state.analyzer.wait_ready(300), app.state.analyzer.error
        assert not app.state.analyzer.scale.maps
        body = {
            "comment": {"text": "I will hurt you, idiot"},
            "requestedAttributes": {"THREAT": {}},
        }
        r = analyze(client, body)
        assert r.status_code == 200, r.text
        answered = r.json()["attributeScores"]["THREAT"]["summaryScore"]["value"]
        scorers = app.state.analyzer.models.scorers
        job = score_jobs(scorers, [Job(text="I will hurt you, idiot")], lambda: None)[0]  # type: ignore[arg-type,return-value]
        assert answered == pytest.approx(job.scores["threat"], abs=1e-6)
