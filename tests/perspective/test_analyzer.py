"""The analyzer with the real offline scorers: batching, what each job is scored by, loading."""

from __future__ import annotations

import threading
from concurrent.futures import wait

import pytest

from moderation.perspective.analyzer import Analyzer, Job, _Load, score_jobs, shared_load
from moderation.policy import load_rules
from moderation.scoring.detoxify import TOXICITY_LABELS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def models():
    from moderation.perspective.analyzer import load_models, model_key
    from moderation.settings import Settings

    settings = Settings(_env_file=None, perspective_enabled=True)
    load = shared_load(model_key(settings), lambda: load_models(settings))
    load.start()
    assert load.done.wait(300) and load.models is not None, load.error
    return load


RULES = load_rules(ROOT / "rules" / "default.yaml")


def test_relevance_only_for_jobs_with_context_and_spans_only_where_asked(models):
    jobs = [
        Job(text="you stupid idiot", spans=True),
        Job(text="The budget cuts school funding.", article="The council cut school funding."),
        Job(text="you stupid idiot", rules=True),
    ]
    out = score_jobs(models.models.scorers, jobs, lambda: RULES)
    assert set(out[0].scores) == {*TOXICITY_LABELS, "spam"}  # the offline model's labels
    assert set(out[1].scores) == {*TOXICITY_LABELS, "relevance", "spam"}
    # The insults are spans, and the only ones that score as toxic on their own ("you",
    # which makes them aimed at someone, may be a weak span of its own).
    found = {jobs[0].text[s:e]: score for s, e, score in out[0].spans}
    assert {"stupid", "idiot"} <= set(found)
    assert {text for text, score in found.items() if score >= 0.5} == {"stupid", "idiot"}
    assert out[1].spans == [] and out[2].spans == []
    assert (out[0].decision, out[2].decision) == (None, "reject")
    assert out[2].rules_version == RULES.version


def test_requests_waiting_together_are_scored_in_one_pass(models):
    analyzer = Analyzer(models, rules=lambda: RULES)
    analyzer.start()
    try:
        with models.models.lock:  # the first pass waits here; the rest queue up behind it
            futures = [analyzer.submit(Job(text=f"comment number {i}")) for i in range(6)]
        wait(futures, timeout=120)
        assert all(f.done() and not f.exception() for f in futures)
        assert 1 <= analyzer.passes <= 2  # never one pass per request
        alone = score_jobs(models.models.scorers, [Job(text="comment number 3")], lambda: RULES)
        assert futures[3].result().scores == pytest.approx(alone[0].scores, abs=1e-6)
    finally:
        analyzer.close()


def test_a_request_before_the_models_are_loaded_waits_then_gets_unavailable():
    release = threading.Event()

    def slow():
        release.wait(60)
        raise RuntimeError("no models here")

    load = _Load(slow)
    analyzer = Analyzer(load, rules=lambda: RULES)
    analyzer.start()
    try:
        assert not analyzer.wait_ready(0.05) and analyzer.error is None
        release.set()
        assert not analyzer.wait_ready(30)
        assert analyzer.error == "RuntimeError: no models here"
    finally:
        analyzer.close()


def test_the_routes_answer_unavailable_while_loading(perspective_settings, worker_heartbeat):
    from fastapi.testclient import TestClient

    from moderation.api.main import create_app
    from tests.perspective.conftest import PUB, analyze

    release = threading.Event()
    app = create_app(perspective_settings.model_copy(update={"perspective_load_wait_seconds": 0}))
    app.state.analyzer = Analyzer(_Load(lambda: release.wait(60)), rules=lambda: RULES)  # type: ignore[arg-type,return-value]
    try:
        with TestClient(app) as client:
            r = analyze(
                client, {"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}}, PUB
            )
            assert r.status_code == 503
            assert r.json()["error"] == {
                "code": 503,
                "message": "The service is currently unavailable: the models are still loading; "
                "try again in a few seconds.",
                "status": "UNAVAILABLE",
                "details": [],
            }
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["failing"] == ["perspective"]
            assert client.get("/healthz").status_code == 200
    finally:
        release.set()


def test_the_analyzer_runs_torch_on_the_threads_it_is_given(monkeypatch):
    import torch

    from moderation.perspective.analyzer import load_models
    from moderation.scoring import set_torch_threads
    from moderation.settings import Settings

    # Loading the models applies the setting (the scorers stubbed: not the point).
    monkeypatch.setattr("moderation.scoring.build_scorers", lambda settings, redis: _Stub())
    before = torch.get_num_threads()
    try:
        set_torch_threads(1, owner="test")
        assert torch.get_num_threads() == 1
        set_torch_threads(0, owner="test")  # 0: as it is (torch's default, unless set before)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        load_models(Settings(_env_file=None, perspective_enabled=True))  # default: 1
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        load_models(Settings(_env_file=None, perspective_enabled=True, perspective_torch_threads=0))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


class _Stub:
    labels = ("toxicity",)
