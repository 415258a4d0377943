"""ScorerSet and build_scorers with the default settings (real models)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from moderation.exceptions import ConfigurationError
from moderation.scoring import (
    ArticleFeaturizer,
    Scorer,
    ScoreResult,
    ScorerSet,
    build_scorers,
    expected_labels,
)
from moderation.scoring.detoxify import TOXICITY_LABELS
from moderation.settings import Settings
from tests.scoring.conftest import HELICOPTER_ARTICLE, comment


def test_unknown_scorer_names_the_setting():
    with pytest.raises(ConfigurationError) as info:
        build_scorers(Settings(scorers="toxicity,sarcasm"), redis=None)
    assert str(info.value) == (
        "Setting MODERATION_SCORERS has value 'toxicity,sarcasm': unknown scorer 'sarcasm'; "
        "expected names from toxicity, relevance, spam."
    )


def test_spam_only_set_needs_no_model(redis_conn):
    scorers = build_scorers(Settings(scorers="spam"), redis=redis_conn)
    assert scorers.labels == ("spam",)
    assert scorers.featurizer_names == ()
    assert scorers.article_features(HELICOPTER_ARTICLE) == {}
    assert scorers.score([]) == []


class _Recorder:
    name = "recorder"
    labels = ("a", "b")

    def __init__(self) -> None:
        self.batches: list[int] = []

    def score(self, comments):
        self.batches.append(len(comments))
        return [ScoreResult(scores={"a": 0.1, "b": 0.2}) for _ in comments]


def test_scorer_set_chunks_by_batch_size():
    recorder = _Recorder()
    assert isinstance(recorder, Scorer)
    scorers = ScorerSet([recorder], batch_size=3)
    results = scorers.score([comment(str(i), ident=str(i)) for i in range(7)])
    assert recorder.batches == [3, 3, 1]
    assert [r.scores for r in results] == [{"a": 0.1, "b": 0.2}] * 7


@pytest.mark.slow
def test_default_scorer_set(redis_conn):
    scorers = build_scorers(Settings(), redis=redis_conn)
    assert scorers.labels == (*TOXICITY_LABELS, "relevance", "spam")  # the shipped model's
    assert scorers.featurizer_names == ("relevance",)
    assert isinstance(scorers.get("relevance"), ArticleFeaturizer)
    # One embedding model shared by the scorers that need it.
    toxicity, relevance = scorers.get("toxicity"), scorers.get("relevance")
    if toxicity.embedder is not None:
        assert toxicity.embedder is relevance.embedder
    features = scorers.article_features(HELICOPTER_ARTICLE)
    assert set(features) == {"relevance"} and isinstance(features["relevance"], bytes)
    [result] = scorers.score([comment("Russia got a new customer for its MIG-21s.")])
    assert set(result.scores) == {*TOXICITY_LABELS, "relevance", "spam"}
    assert set(result.evidence) == {"toxicity", "relevance", "spam"}
    assert all(0.0 <= v <= 1.0 for v in result.scores.values())


@pytest.mark.slow
def test_1000_comments_one_model_load_and_one_pass_per_batch(redis_conn, monkeypatch):
    from moderation.scoring import _minilm

    loads: list[str] = []
    original_load = _minilm.load

    def counting_load(path, **kwargs):
        loads.append(str(path))
        return original_load(path, **kwargs)

    monkeypatch.setattr(_minilm, "load", counting_load)
    scorers = build_scorers(Settings(scoring_batch_size=50), redis=redis_conn)
    assert len(loads) == 1
    relevance = scorers.get("relevance")
    embedder = relevance.embedder
    # Both embedding users (the tuned toxicity layer, relevance) start at MiniLM's embeddings.
    forwards: list[int] = []
    hook = embedder.transformer.embeddings.register_forward_hook(
        lambda module, args, output: forwards.append(int(output.shape[0]))
    )
    # What the caller stores once per article version and passes back.
    article = dataclasses.replace(
        HELICOPTER_ARTICLE, features=scorers.article_features(HELICOPTER_ARTICLE)
    )
    # Occlusion spans add passes for toxic comments only; count the scoring passes here.
    scorers.get("toxicity").explain_threshold = 1.01
    forwards.clear()
    texts = [f"Comment {i}: thanks for the clear report on the deal." for i in range(1000)]
    results = scorers.score(
        [comment(t, ident=str(i), author=f"u{i}", article=article) for i, t in enumerate(texts)]
    )
    hook.remove()
    assert len(results) == 1000
    assert len(loads) == 1
    # Each batch of 50 is one forward pass, shared by both embedding users (tuned toxicity,
    # relevance): one MiniLM pass per comment.
    assert scorers.get("toxicity").embedder is embedder  # the shipped model's, shared
    assert len(forwards) == math.ceil(1000 / 50)
    assert max(forwards) == 50


def test_scorer_set_explains_what_score_left_pending():
    class _Explaining(_Recorder):
        def explain(self, texts, scores):
            self.batches.append(-len(texts))
            return [[{"text": t, "weight": s}] for t, s in zip(texts, scores, strict=True)]

    class _Plain(_Recorder):
        name = "plain"

    scorer = _Explaining()
    scorers = ScorerSet([scorer, _Plain()], batch_size=2)
    assert scorers.explainer_names == ("recorder",)
    with pytest.raises(KeyError):
        scorers.explain("plain", ["a"], [0.5])
    spans = scorers.explain("recorder", ["a", "b", "c"], [0.1, 0.2, 0.3])
    assert spans == [[{"text": "a", "weight": 0.1}], [{"text": "b", "weight": 0.2}],
                     [{"text": "c", "weight": 0.3}]]  # fmt: skip
    assert scorer.batches == [-2, -1]  # batch_size texts at a time


def test_expected_labels_are_known_without_loading_a_model():
    assert expected_labels(Settings()) == (*TOXICITY_LABELS, "relevance", "spam")
    original = Settings(toxicity_backend="detoxify:original", scorers="toxicity,spam")
    assert expected_labels(original) == (
        "toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "spam"
    )  # fmt: skip
    assert "sexual_explicit" in expected_labels(Settings(toxicity_backend="detoxify:unbiased"))
    # A local checkpoint's classes are in the file: only the worker that loads it can tell.
    local = Settings(toxicity_backend="detoxify:unbiased", detoxify_checkpoint="m.ckpt")
    assert expected_labels(local) is None
