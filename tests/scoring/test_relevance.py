"""Relevance with the real MiniLM model: calibrated, chunked, with parent replies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from moderation.scoring import ArticleInput
from moderation.scoring.relevance import (
    ArticleEmbedding,
    RelevanceScorer,
    chunk_spans,
    distinct_sentences,
    unrelated_reference,
)
from tests.scoring.conftest import HELICOPTER_ARTICLE, comment

pytestmark = pytest.mark.slow

# Our own texts for the two cases of issue #14 (item 6): a recipe and a news story.
SOUP_ARTICLE = ArticleInput(
    id="soup",
    title="Easy tomato soup",
    body=(
        "This soup takes half an hour and uses what is in the cupboard. Fry a chopped onion "
        "and a carrot in olive oil until soft. Stir in two tins of chopped tomatoes, a "
        "teaspoon of sugar and 500 ml of stock. Simmer for 20 minutes, then blend. Season to "
        "taste and serve with bread."
    ),
)
PACT_ARTICLE = ArticleInput(
    id="pact",
    title="Minister signs controversial fisheries pact",
    body=(
        "The fisheries minister signed a ten-year agreement on Monday that lets foreign "
        "trawlers fish inside the country's northern waters in exchange for annual payments "
        "and shared quotas. Coastal communities and small-boat fishermen protested outside the "
        "ministry, saying the pact will empty the stocks they depend on. Opposition parties "
        "called the deal a sell-out and demanded a vote in parliament, which the government "
        "says is not required. Scientists warned that the cod and herring quotas set in the "
        "agreement exceed the levels they had recommended."
    ),
)
CREAM = "Add a spoon of cream at the end and it is even better."
RANT = " ".join(["The pact is a disgrace and the idiots who wrote it should be ashamed."] * 20)


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


def test_a_short_on_topic_reply_under_a_recipe_is_not_escalated(scorer):
    # The bank's own recipe text used to be this comment's nearest "unrelated subject".
    [result] = scorer.score([comment(CREAM, article=SOUP_ARTICLE)])
    assert result.scores["relevance"] >= 0.35


def test_a_long_on_topic_rant_that_repeats_itself_is_not_escalated(scorer):
    once, repeated = scorer.score(
        [
            comment(RANT.split(". ")[0] + ".", ident="1", article=PACT_ARTICLE),
            comment(RANT, ident="2", article=PACT_ARTICLE),
        ]
    )
    assert repeated.scores["relevance"] >= 0.35
    assert repeated.scores["relevance"] == pytest.approx(once.scores["relevance"], abs=1e-6)


def test_short_and_long_off_topic_comments_stay_escalated(scorer):
    referee = " ".join(
        [
            "The referee was blind all afternoon and the coach should be fired tomorrow.",
            "Our striker missed three open goals and the fans booed the whole second half.",
            "Ticket prices went up again and the stadium food is still cold and overpriced.",
        ]
        * 8
    )
    results = scorer.score(
        [
            comment("Does anyone know a good plumber in Leeds?", ident="1", article=SOUP_ARTICLE),
            comment("Who won the football last night?", ident="2", article=PACT_ARTICLE),
            comment(CREAM, ident="3", article=PACT_ARTICLE),
            comment(RANT, ident="4", article=SOUP_ARTICLE),
            comment(referee, ident="5", article=PACT_ARTICLE),
        ]
    )
    assert [r.scores["relevance"] < 0.35 for r in results] == [True] * 5


def test_repeated_sentences_are_read_once():
    text = "The pact is a disgrace. The pact is a DISGRACE! Who signed it?\nthe pact is a disgrace"
    assert distinct_sentences(text) == "The pact is a disgrace. Who signed it?"


def test_a_comment_without_repeats_is_read_as_written():
    # Unchanged text: the read toxicity made of it serves relevance too (one MiniLM pass).
    text = "Fine. Fine words, but the pact is still a disgrace.\n\nFine by whom?"
    assert distinct_sentences(text) is text


def test_the_references_nearest_to_the_article_are_left_out():
    reference = np.eye(4, dtype=np.float32)
    target = np.array([[0.0, 0.6, 0.8, 0.0]], dtype=np.float32)
    kept = unrelated_reference(reference, target, excluded=2)
    assert kept.tolist() == [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    assert unrelated_reference(reference, target, excluded=0) is reference
