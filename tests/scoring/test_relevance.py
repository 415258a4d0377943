"""Relevance with the real MiniLM model: calibrated, chunked, with parent replies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from moderation.scoring import ArticleInput
from moderation.scoring.relevance import ArticleEmbedding, RelevanceScorer, chunk_spans
from tests.scoring.conftest import HELICOPTER_ARTICLE, comment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scorer(embedder) -> RelevanceScorer:
    return RelevanceScorer(embedder=embedder)


def test_a_short_on_topic_quip_is_clearly_on_topic(scorer):
    [result] = scorer.score([comment("Russia got a new customer for its MIG-21s.")])
    assert result.scores["relevance"] >= 0.5


def test_on_topic_scores_above_off_topic(scorer):
    on, other, generic = scorer.score(
        [
            comment("India will not be pleased that Moscow is arming Pakistan.", ident="1"),
            comment("My sourdough starter finally bubbled after three days.", ident="2"),
            comment("Does anyone know a good plumber in Leeds?", ident="3"),
        ]
    )
    assert on.scores["relevance"] > 0.8
    assert other.scores["relevance"] < 0.2
    assert generic.scores["relevance"] < 0.2
    evidence = on.evidence["relevance"]
    assert evidence["best_match"]["part"] in {"title", "body"}
    assert 0.0 <= evidence["cosine"] <= 1.0


def test_a_reply_that_answers_its_parent_is_on_topic(scorer):
    parent = "Does anyone know how many Mi-35s Pakistan actually ordered?"
    alone, reply = scorer.score(
        [
            comment("I think it was about twenty at first.", ident="1"),
            comment("I think it was about twenty at first.", ident="2", parent=parent),
        ]
    )
    assert reply.scores["relevance"] >= alone.scores["relevance"]
    assert "parent_matched" in reply.evidence["relevance"]
    assert "parent" not in alone.evidence["relevance"]


def test_the_end_of_a_long_article_counts(scorer):
    filler = " ".join(
        f"Paragraph {i} discusses municipal zoning bylaws and parking permits." for i in range(80)
    )
    tail = "In a final twist, the mayor revealed the city will buy a herd of alpacas to mow parks."
    article = ArticleInput(id="long", title="Council meeting notes", body=filler + " " + tail)
    without_tail = ArticleInput(id="short", title="Council meeting notes", body=filler)
    text = "Alpacas mowing the parks is the best idea the city has had."
    result, baseline = scorer.score(
        [comment(text, article=article), comment(text, ident="2", article=without_tail)]
    )
    match = result.evidence["relevance"]["best_match"]
    assert match["part"] == "body"
    assert match["start"] > len(filler) - 600
    assert "alpacas" in match["excerpt"]
    assert result.scores["relevance"] > baseline.scores["relevance"] + 0.3


def test_stored_article_features_are_used_instead_of_recomputing(scorer):
    blob = scorer.article_features(HELICOPTER_ARTICLE)
    stored = ArticleEmbedding.from_bytes(blob)
    assert stored is not None and stored.vectors.shape[1] == 384
    article = dataclasses.replace(HELICOPTER_ARTICLE, id="stored", features={"relevance": blob})
    calls: list[int] = []
    original = scorer.embedder.encode

    def counting_encode(texts):
        calls.append(len(texts))
        return original(texts)

    scorer.embedder.encode = counting_encode
    try:
        scorer.score([comment("Moscow wants new arms buyers.", article=article)])
    finally:
        scorer.embedder.encode = original
    assert calls == [1]  # the comment only, not the article


def test_features_from_another_version_are_recomputed():
    assert ArticleEmbedding.from_bytes(b"not an npz") is None


def test_chunks_cover_the_whole_body():
    body = " ".join(f"w{i}" for i in range(130))
    spans = chunk_spans(body, words=60, stride=45)
    assert spans[0][0] == 0
    assert spans[-1][1] == len(body)
    assert chunk_spans("") == []


def test_calibrated_scores_are_probabilities(scorer):
    results = scorer.score([comment(t, ident=t) for t in ["", "ok", "x" * 5000]])
    values = np.array([r.scores["relevance"] for r in results])
    assert np.all((values >= 0) & (values <= 1))
