"""The offline toxicity scorer: alt-profanity-check plus the shipped embedding head."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.scoring._explain import occlusion_spans, word_spans
from moderation.scoring.lexical import (
    DEFAULT_HEAD_PATH,
    OfflineToxicityScorer,
    ToxicityHead,
    lexical_probabilities,
)
from tests.scoring.conftest import comment


def test_lexical_baseline_flags_swearing():
    low, high = lexical_probabilities(["What a thoughtful analysis.", "shut the fuck up"])
    assert low < 0.2 < 0.8 < high


def test_lexical_only_scorer_explains_its_score():
    scorer = OfflineToxicityScorer(embedder=None)
    clean, rude = scorer.score(
        [
            comment("Thanks for this report.", ident="1"),
            comment("You are a fucking idiot", ident="2"),
        ]
    )
    assert clean.scores["toxicity"] < 0.3
    assert clean.evidence["toxicity"]["spans"] == []  # under the explain threshold
    assert rude.scores["toxicity"] > 0.9
    words = {span["text"] for span in rude.evidence["toxicity"]["spans"]}
    assert words & {"fucking", "idiot"}
    for span in rude.evidence["toxicity"]["spans"]:
        assert "You are a fucking idiot"[span["start"] : span["end"]] == span["text"]
    assert scorer.score([]) == []


def test_occlusion_keeps_the_words_whose_removal_lowers_the_score():
    def score_fn(texts):
        return np.array([0.9 if "bad" in t else 0.1 for t in texts])

    [spans] = occlusion_spans(["a bad day"], [0.9], score_fn)
    assert [(s["start"], s["end"], s["text"]) for s in spans] == [(2, 5, "bad")]
    assert spans[0]["weight"] > 0
    assert occlusion_spans(["a bad day"], [0.1], score_fn) == [[]]


def test_word_spans_keep_masked_swear_words_whole():
    text = "what the f*ck, don't"
    assert [text[a:b] for a, b in word_spans(text)] == ["what", "the", "f*ck", "don't"]


def test_head_round_trips(tmp_path):
    head = ToxicityHead(
        coef=np.arange(386, dtype=np.float32) / 1000, intercept=-0.5, metadata={"a": 1}
    )
    head.save(tmp_path / "head.npz")
    loaded = ToxicityHead.load(tmp_path / "head.npz")
    assert np.allclose(loaded.coef, head.coef) and loaded.intercept == pytest.approx(-0.5)
    assert loaded.metadata == {"a": 1}


@pytest.mark.slow
def test_shipped_head_flags_insults_without_swear_words(embedder):
    if not DEFAULT_HEAD_PATH.exists():
        pytest.skip("no shipped toxicity head")
    scorer = OfflineToxicityScorer.from_files(embedder=embedder)
    assert scorer.head is not None
    polite, insult, swear = scorer.score(
        [
            comment("I disagree with the analysts; India has other suppliers.", ident="1"),
            comment(
                "Only a brain-dead moron would write garbage like this, go back to school",
                ident="2",
            ),
            comment("fuck you, you worthless piece of shit", ident="3"),
        ]
    )
    assert polite.scores["toxicity"] < 0.3
    assert insult.scores["toxicity"] > 0.5
    assert swear.scores["toxicity"] > 0.9
    assert insult.evidence["toxicity"]["model"] == "minilm-logreg+profanity-check"
    assert insult.evidence["toxicity"]["spans"]
