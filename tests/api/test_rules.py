"""/v1/rules: the active version, reload on demand, stored versions, per-rule counts."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moderation.api.main import create_app
from moderation.db.models import Article, Comment, Decision, RulesVersion, utcnow
from moderation.policy import load_rules
from tests.conftest import ROOT, auth

ADMIN = auth("admin")
DEFAULT = ROOT / "rules" / "default.yaml"


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules" / "words", tmp_path / "rules" / "words")
    path = tmp_path / "rules" / "site.yaml"
    shutil.copy(DEFAULT, path)
    return path


@pytest.fixture
def rules_client(settings, rules_file):
    with TestClient(create_app(settings.model_copy(update={"rules": rules_file}))) as c:
        yield c


@pytest.mark.parametrize("role", ["publisher", "moderator"])
def test_rules_endpoints_are_for_admins(client, role):
    for method, path in [
        ("GET", "/v1/rules"),
        ("POST", "/v1/rules/reload"),
        ("GET", "/v1/rules/stats"),
        ("GET", f"/v1/rules/versions/{'0' * 64}"),
    ]:
        r = client.request(method, path, headers=auth(role))
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"] == "forbidden"


def test_read_rules_shows_the_active_version(client, session_factory):
    ruleset = load_rules(DEFAULT)
    before = utcnow()
    r = client.get("/v1/rules", headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == ruleset.version
    assert body["source"] == str(DEFAULT)
    assert body["rule_ids"] == [rule.id for rule in ruleset.rules]
    assert body["files"] == [str(DEFAULT), str(DEFAULT.parent / "words" / "severe-abuse.txt")]
    assert body["refused_reload"] == []
    assert body["loaded_at"] >= before.isoformat()[:19]
    # The API stores the version it activated.
    with session_factory() as session:
        assert session.get(RulesVersion, ruleset.version).content == DEFAULT.read_text()


def test_reload_activates_a_changed_file_and_refuses_a_broken_one(rules_client, rules_file):
    v1 = rules_client.get("/v1/rules", headers=ADMIN).json()["version"]
    assert rules_client.post("/v1/rules/reload", headers=ADMIN).json() == {
        "changed": False, "version": v1, "previous_version": v1,
    }  # fmt: skip

    lowered = rules_file.read_text().replace("toxicity, gte: 0.85}", "toxicity, gte: 0.8}")
    rules_file.write_text(lowered)
    v2 = load_rules(rules_file).version
    r = rules_client.post("/v1/rules/reload", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"changed": True, "version": v2, "previous_version": v1}

    stored = rules_client.get(f"/v1/rules/versions/{v2}", headers=ADMIN).json()
    assert stored["hash"] == v2 and stored["content"] == lowered
    assert stored["source"] == str(rules_file) and stored["first_active_at"]
    words = rules_file.parent / "words" / "severe-abuse.txt"
    assert stored["sources"] == {str(rules_file): lowered, str(words): words.read_text()}
    assert rules_client.get(f"/v1/rules/versions/{v1}", headers=ADMIN).status_code == 200

    rules_file.write_text(lowered.replace("action: reject", "action: rejct", 1) + "oops: 1\n")
    oops_line = len(lowered.splitlines()) + 1
    reject_line = next(i for i, t in enumerate(lowered.splitlines(), 1) if "action: reject" in t)
    r = rules_client.post("/v1/rules/reload", headers=ADMIN)
    assert r.status_code == 422, r.text
    errors = [
        f"{rules_file}:{reject_line}:5: rules[1].action: 'rejct' is not one of approve, reject, "
        "escalate",
        f"{rules_file}:{oops_line}:1: unknown key 'oops' at the top level; expected one of: "
        "extends, default, lists, remove, rules, tests",
    ]
    assert r.json() == {
        "error": "rules_refused",
        "message": f"{rules_file} refused with 2 problem(s); version {v2[:12]} keeps deciding",
        "fields": [{"field": "rules", "message": e, "type": "rules_error"} for e in errors],
        "errors": errors,
        "active_version": v2,
    }
    active = rules_client.get("/v1/rules", headers=ADMIN).json()
    assert (active["version"], active["refused_reload"]) == (v2, errors)

    rules_file.write_text(lowered)  # fixed: the refusal is cleared
    assert rules_client.post("/v1/rules/reload", headers=ADMIN).json()["changed"] is False
    assert rules_client.get("/v1/rules", headers=ADMIN).json()["refused_reload"] == []


def test_read_rules_version_unknown(client):
    r = client.get(f"/v1/rules/versions/{'ab' * 32}", headers=ADMIN)
    assert r.status_code == 404
    assert r.json()["message"] == f"rules version '{'ab' * 32}' does not exist"


def _decisions(session_factory) -> None:
    now = utcnow()
    rows = [  # action, rule, matched rules, hours ago, decided_by
        ("reject", "very-toxic", ["repeat-offender", "very-toxic"], 1, "rules"),
        ("reject", "very-toxic", ["very-toxic"], 2, "rules"),
        ("escalate", "borderline-toxicity", ["repeat-offender", "borderline-toxicity"], 3, "rules"),
        ("approve", None, ["repeat-offender", "default"], 4, "rules"),
        ("approve", None, ["default"], 48, "rules"),
        ("approve", None, [], 0.5, "moderator"),  # not an automatic decision
    ]
    with session_factory() as session:
        session.add(Article(id="a1", title="t", body="b", content_hash="h", tags=[]))
        session.add(Comment(id="c1", article_id="a1", author_id="u1", text="x",
                            content_hash="h", created_at=now))  # fmt: skip
        session.flush()
        for action, rule, matched, hours, by in rows:
            session.add(
                Decision(
                    comment_id="c1", action=action, decided_by=by, rule=rule,
                    reasons=[{"rule": m, "message": "m"} for m in matched],
                    rules_version="v1" if hours < 24 else "v0",
                    decided_at=now - timedelta(hours=hours),
                )
            )  # fmt: skip
        session.commit()


def test_rule_stats_count_decided_and_matched_by_action(client, session_factory):
    _decisions(session_factory)
    r = client.get("/v1/rules/stats", params={"since": "24h"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["decisions"], body["actions"]) == (4, {"approve": 1, "escalate": 1, "reject": 2})
    assert body["rules"] == [
        {"rule": "very-toxic", "decided": {"reject": 2}, "decided_total": 2,
         "matched": {"reject": 2}, "matched_total": 2},
        {"rule": "borderline-toxicity", "decided": {"escalate": 1}, "decided_total": 1,
         "matched": {"escalate": 1}, "matched_total": 1},
        {"rule": "default", "decided": {"approve": 1}, "decided_total": 1,
         "matched": {"approve": 1}, "matched_total": 1},
        {"rule": "repeat-offender", "decided": {}, "decided_total": 0,
         "matched": {"approve": 1, "escalate": 1, "reject": 1}, "matched_total": 3},
    ]  # fmt: skip

    week = client.get("/v1/rules/stats", params={"since": "7d"}, headers=ADMIN).json()
    assert week["decisions"] == 5
    assert next(s for s in week["rules"] if s["rule"] == "default")["decided"] == {"approve": 2}
    v0 = client.get("/v1/rules/stats?since=7d&rules_version=v0", headers=ADMIN).json()
    assert v0["decisions"] == 1


def test_rule_stats_default_window_and_bad_window(client):
    r = client.get("/v1/rules/stats", headers=ADMIN)
    assert r.status_code == 200 and r.json()["decisions"] == 0
    assert r.json()["since"] < r.json()["until"]
    r = client.get("/v1/rules/stats", params={"since": "yesterday"}, headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["fields"] == [{
        "field": "since", "type": "value_error",
        "message": "window 'yesterday' is not a positive duration; write a number and a unit "
        "(s, m, h, d, w), e.g. 24h or 7d",
    }]  # fmt: skip


def test_reload_refuses_a_score_the_configured_scorers_do_not_produce(settings, tmp_path):
    from fastapi.testclient import TestClient

    from moderation.api.main import create_app

    rules_file = tmp_path / "site.yaml"
    good = "default: {action: approve, message: fine}\nrules:\n"
    rule = "  - {id: t, when: {score: %s, gte: 0.9}, action: reject}\n"
    rules_file.write_text(good + rule % "toxicity")
    with TestClient(create_app(settings.model_copy(update={"rules": rules_file}))) as c:
        assert c.post("/v1/rules/reload", headers=ADMIN).status_code == 200
        rules_file.write_text(
            good + "  - {id: t, when: {score: flirtation, gte: 0.9}, action: reject}\n"
        )
        r = c.post("/v1/rules/reload", headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        f"{rules_file}:3:20: unknown score 'flirtation' in rules[0].when.score; "
        "active scorers produce: identity_attack, insult, obscene, relevance, severe_toxicity, "
        "sexual_explicit, spam, threat, toxicity"
    ]


def test_with_released_detoxify_weights_the_api_knows_their_labels(settings, tmp_path):
    rules_file = tmp_path / "site.yaml"
    good = "default: {action: approve, message: fine}\nrules:\n"
    rule = "  - {id: t, when: {score: %s, gte: 0.9}, action: reject}\n"
    rules_file.write_text(good + rule % "insult")
    detoxify = {"rules": rules_file, "toxicity_backend": "detoxify:original"}
    with TestClient(create_app(settings.model_copy(update=detoxify))) as c:
        assert c.post("/v1/rules/reload", headers=ADMIN).status_code == 200
        rules_file.write_text(good + rule % "sexual_explicit")  # the unbiased model's only
        r = c.post("/v1/rules/reload", headers=ADMIN)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        f"{rules_file}:3:20: unknown score 'sexual_explicit' in rules[0].when.score; "
        "active scorers produce: identity_attack, insult, obscene, relevance, severe_toxicity, "
        "spam, threat, toxicity"
    ]
