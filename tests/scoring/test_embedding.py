"""The embedder's one pass per comment: what it gives each scorer equals a pass of its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moderation.scoring.toxicity_model import DEFAULT_MAX_TOKENS, bottom_states

pytestmark = pytest.mark.slow

SHORT = "Thanks for the careful reporting on the helicopter deal."
LONG = " ".join(f"Sentence {i} says the ministry ordered more helicopters." for i in range(40))
TEXTS = [SHORT, LONG, "You are an idiot.", LONG + " and then some more"]


@pytest.fixture
def fresh(embedder):
    embedder._reads.clear()
    embedder.tap = None
    yield embedder
    embedder._reads.clear()
    embedder.tap = None


def test_a_read_gives_the_sentence_transformers_embedding(fresh):
    from sentence_transformers import SentenceTransformer

    from moderation.scoring._embedding import bundled_model_path

    reference = SentenceTransformer(str(bundled_model_path()), local_files_only=True)
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(fresh.encode(TEXTS), expected, atol=1e-5)


def test_kept_states_equal_a_pass_over_the_cut_text(fresh):
    tokens = DEFAULT_MAX_TOKENS
    fresh.keep_states(layer=5, tokens=tokens)
    reads = fresh.read(TEXTS)
    assert len(reads[1].ids) == fresh.max_tokens  # the long one is read at 256 pieces
    assert reads[0].states is not None and reads[1].states is None  # long: cut on demand
    states = fresh.states(TEXTS, layer=5, tokens=tokens)
    for text, state in zip(TEXTS, states, strict=True):
        hidden, mask = bottom_states(fresh, [text], first_layer=5, max_tokens=tokens)
        assert state.shape[0] == int(mask.sum()) <= tokens
        assert torch.allclose(state, hidden[0, : state.shape[0]], atol=1e-5)


def test_the_second_scorer_to_ask_gets_the_first_ones_pass(fresh):
    fresh.keep_states(layer=5, tokens=DEFAULT_MAX_TOKENS)
    forwards: list[int] = []
    hook = fresh.transformer.embeddings.register_forward_hook(
        lambda module, args, output: forwards.append(int(output.shape[0]))
    )
    try:
        fresh.states([SHORT, "You are an idiot."], layer=5, tokens=DEFAULT_MAX_TOKENS)
        fresh.encode([SHORT, "You are an idiot."])  # relevance after toxicity: no pass
        assert forwards == [2]
        fresh.encode([SHORT, "A reply's parent, new here."])  # only the new text is read
        assert forwards == [2, 1]
    finally:
        hook.remove()


def test_length_batches_keep_short_texts_together_and_long_ones_few_to_a_pass():
    from moderation.scoring._embedding import length_batches

    rows = [[0] * n for n in (300, 10, 256, 20, 256, 12, 128)]
    # Shortest first; at most 3 rows; count x width² within 2 x 256².
    assert length_batches(rows, size=3, budget=2 * 256 * 256) == [[1, 5, 3], [6, 2], [4], [0]]
    assert length_batches([], size=64) == []
    # A row wider than the budget allows still gets a pass of its own.
    assert length_batches([[0] * 600], size=64, budget=100) == [[0]]
