"""The offline toxicity scorer: alt-profanity-check plus the shipped fine-tuned MiniLM layer."""

from __future__ import annotations

import numpy as np
import pytest

from moderation.scoring._explain import occlusion_spans, word_spans, word_sums
from moderation.scoring.lexical import MODEL_NAME, OfflineToxicityScorer, lexical_probabilities
from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH
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
    # Spans are not on the decision path: pending after score(), computed by explain().
    assert rude.evidence["toxicity"]["spans"] is None
    assert rude.evidence["toxicity"]["spans_pending"] is True
    clean_spans, rude_spans = scorer.explain(
        ["Thanks for this report.", "You are a fucking idiot"],
        [clean.scores["toxicity"], rude.scores["toxicity"]],
    )
    assert clean_spans == []
    words = {span["text"] for span in rude_spans}
    assert words & {"fucking", "idiot"}
    for span in rude_spans:
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


@pytest.mark.slow
def test_shipped_model_flags_insults_without_swear_words(embedder):
    assert DEFAULT_MODEL_PATH.stat().st_size < 4_000_000  # committed weights stay small (2 layers)
    scorer = OfflineToxicityScorer.from_files(embedder=embedder)
    assert scorer.model is not None
    texts = [
        "I disagree with the analysts; India has other suppliers.",
        "Only a brain-dead moron would write garbage like this, go back to school",
        "fuck you, you worthless piece of shit",
    ]
    polite, insult, swear = scorer.score([comment(t, ident=str(i)) for i, t in enumerate(texts)])
    assert polite.scores["toxicity"] < 0.3
    assert insult.scores["toxicity"] > 0.5
    assert swear.scores["toxicity"] > 0.9
    evidence = insult.evidence["toxicity"]
    assert evidence["model"] == MODEL_NAME
    assert 0.0 <= evidence["tuned"] <= 1.0 and 0.0 <= evidence["lexical"] <= 1.0
    assert evidence["spans_pending"] is True
    [spans] = scorer.explain([texts[1]], [insult.scores["toxicity"]])
    assert spans
    # predict(), which occlusion re-scores with, gives what score() gave.
    expected = [r.scores["toxicity"] for r in (polite, insult, swear)]
    assert scorer.predict(texts).tolist() == pytest.approx(expected, abs=1e-6)


def test_a_shortlist_limits_the_rescored_words_to_those_it_ranks_highest():
    text = " ".join(f"w{i}" for i in range(20)) + " bad"
    words = word_spans(text)
    seen: list[str] = []

    def score_fn(texts):
        seen.extend(texts)
        return np.array([0.9 if "bad" in t else 0.1 for t in texts])

    def shortlist(texts, spans):
        assert texts == [text] and [list(s) for s in spans] == [words]
        estimate = np.zeros(len(words))
        estimate[-1], estimate[3] = 2.0, 1.0  # "bad" first, then "w3"
        return [estimate]

    [spans] = occlusion_spans([text], [0.9], score_fn, shortlist=shortlist, shortlist_size=2)
    assert len(seen) == 2  # two re-scores, not 21
    assert [s["text"] for s in spans] == ["bad"]  # the weight is the measured drop
    # Texts with no more words than the shortlist are all re-scored, unranked.
    seen.clear()
    occlusion_spans(["a bad day"], [0.9], score_fn, shortlist=shortlist, shortlist_size=3)
    assert len(seen) == 3


def test_word_sums_add_each_words_pieces_and_skip_the_rest():
    text = "unbelievable, you idiot"
    spans = word_spans(text)  # unbelievable, you, idiot
    offsets = [(0, 0), (0, 2), (2, 12), (12, 13), (14, 17), (18, 23), (0, 0)]
    values = np.array([5.0, 1.0, 2.0, 7.0, 0.5, 3.0, 9.0])
    assert word_sums(spans, offsets, values).tolist() == [3.0, 0.5, 3.0]


@pytest.mark.slow
def test_shortlisted_spans_of_a_long_comment_match_occlusion_of_every_word(embedder):
    scorer = OfflineToxicityScorer.from_files(embedder=embedder)
    text = (
        "I have read this newspaper for twenty years and I have never seen such a lazy piece "
        "of reporting, the council clearly did its homework on the budget and the reporter "
        "did not, and frankly anyone who believes this is a complete idiot and a moron."
    )
    [score] = scorer.predict([text])
    assert len(word_spans(text)) > 40 and score > 0.3
    [every] = occlusion_spans([text], [score], scorer.predict)
    [shortlisted] = scorer.explain([text], [score])
    # Both point at the insults and nothing else (masking a word out of the tuned layers'
    # input is not re-scoring the text without it: with two tuned layers, one ranks
    # "idiot" first and the other "moron").
    insults = {"idiot", "moron"}
    assert {s["text"] for s in every} <= insults and {s["text"] for s in shortlisted} <= insults
    assert every and shortlisted


def test_variant_scores_replace_rescoring_the_texts_without_each_word():
    asked: list[tuple[str, tuple[int, int]]] = []

    def score_fn(texts):
        raise AssertionError("variant_scores scores the variants")

    def variant_scores(items):
        asked.extend(items)
        return np.array([0.1 if text[a:b] == "bad" else 0.9 for text, (a, b) in items])

    [spans] = occlusion_spans(["a bad day"], [0.9], score_fn, variant_scores=variant_scores)
    assert [text[a:b] for text, (a, b) in asked] == ["a", "bad", "day"]
    assert [s["text"] for s in spans] == ["bad"]


@pytest.mark.slow
def test_masking_a_words_pieces_takes_it_away_from_the_tuned_layer(embedder):
    scorer = OfflineToxicityScorer.from_files(embedder=embedder)
    model = scorer.model
    text = "You are a worthless idiot and everyone here knows it."
    [state] = embedder.states([text], layer=model.first_layer, tokens=model.max_tokens)
    [offsets] = model.piece_offsets(embedder, [text])
    assert len(offsets) == state.shape[0]  # a character span per piece the top reads
    assert all(text[a:b] for a, b in offsets[1:-1]) and offsets[0] == offsets[-1] == (0, 0)
    start = text.index("idiot")
    idiot = [i for i, (a, _) in enumerate(offsets) if start <= a < start + len("idiot")]
    whole, without = model.masked_logits(state, [[], idiot])[:, 0]
    assert whole == pytest.approx(model.logits_of_states([state])[0, 0], abs=1e-5)
    assert without < whole - 1.0  # the insult was most of the tuned logit
    [attribution] = model.top_attributions([state])
    assert attribution.shape == (state.shape[0],)
    # The shortlist's ranking: the insult is among the top pieces (12 words are tried).
    assert set(np.argsort(attribution)[::-1][:3].tolist()) & set(idiot)


@pytest.mark.slow
def test_spans_come_from_the_stored_read_without_a_lower_pass_per_word(embedder, monkeypatch):
    """The explain job's cost: one lower pass at most per explained comment (none while the
    embedder holds the decision's read), whatever the number of words tried."""
    scorer = OfflineToxicityScorer.from_files(embedder=embedder)
    text = "Only a brain-dead moron would write garbage like this, go back to school, idiot."
    [score] = scorer.predict([text])
    calls: list[int] = []
    original = embedder._lower

    def counted(ids, mask, layer):
        calls.append(int(ids.shape[0]))
        return original(ids, mask, layer)

    monkeypatch.setattr(embedder, "_lower", counted)
    [spans] = scorer.explain([text], [score])
    assert calls == []  # predict() above left the read in the embedder
    assert {s["text"] for s in spans} & {"moron", "idiot", "brain"}
