"""The tuned toxicity model: MiniLM's shipped lower layers, a fine-tuned top layer, a stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moderation.exceptions import ModelUnavailableError
from moderation.scoring.toxicity_model import (
    ToxicityModel,
    TunedTop,
    _run_layers,
    bottom_states,
    round_to_file,
)

pytestmark = pytest.mark.slow

TEXTS = [
    "Thanks for the careful reporting.",
    "You are an idiot and everyone here knows it.",
    "The helicopters were ordered last spring, the ministry said in a statement on Friday.",
]


def _perturbed_top(embedder, seed: int = 3, std: float = 0.01) -> TunedTop:
    """A top as fine-tuning leaves it: the shipped layer moved a little, a random head."""
    torch.manual_seed(seed)
    top = TunedTop.from_embedder(embedder, first_layer=5)
    torch.nn.init.normal_(top.head.weight, std=0.5)
    with torch.no_grad():
        for tensor in top.layers.parameters():
            tensor.add_(torch.randn_like(tensor) * std)
    return top


def _model(embedder, seed: int = 3) -> ToxicityModel:
    """A perturbed top, its weights rounded to what a file keeps."""
    top = _perturbed_top(embedder, seed)
    round_to_file(top, embedder, first_layer=5)
    return ToxicityModel(top, first_layer=5, stack=(0.4, 1.3, -0.2), metadata={"a": 1})


def test_shared_layers_plus_an_untouched_top_are_minilm_itself(embedder):
    top = TunedTop.from_embedder(embedder, first_layer=5)
    hidden, mask = bottom_states(embedder, TEXTS, first_layer=5, max_tokens=256)
    with torch.no_grad():
        out = _run_layers(top.layers, hidden, mask)
    weights = mask.unsqueeze(-1).float()
    pooled = torch.nn.functional.normalize((out * weights).sum(1) / weights.sum(1), dim=-1)
    assert np.allclose(pooled.numpy(), embedder.encode(TEXTS), atol=1e-5)


def test_round_trip_through_the_file(embedder, tmp_path: Path):
    model = _model(embedder)
    model.save(tmp_path / "model.npz", embedder)
    assert (tmp_path / "model.npz").stat().st_size < 2_000_000  # one layer's change, 8-bit
    loaded = ToxicityModel.load(tmp_path / "model.npz", embedder)
    assert loaded.stack == pytest.approx(model.stack)
    assert loaded.first_layer == 5 and loaded.metadata == {"a": 1}
    assert np.allclose(
        loaded.tuned_logits(embedder, TEXTS), model.tuned_logits(embedder, TEXTS), atol=1e-5
    )
    lexical = np.array([0.1, 0.9, 0.5])
    z = 0.4 * np.log(lexical / (1 - lexical)) + 1.3 * model.tuned_logits(embedder, TEXTS) - 0.2
    assert np.allclose(model.predict(embedder, TEXTS, lexical), 1 / (1 + np.exp(-z)))


def test_scores_do_not_depend_on_batching(embedder):
    model = _model(embedder)
    texts = [f"comment number {i} " + "and more words " * (i % 7) for i in range(70)]
    assert len(texts) > embedder.batch_size  # two passes
    together = model.tuned_logits(embedder, texts)
    alone = np.array([model.tuned_logits(embedder, [t])[0] for t in texts[::10]])
    assert np.allclose(together[::10], alone, atol=1e-4)
    assert model.tuned_logits(embedder, []).shape == (0,)


def test_a_broken_file_names_itself(embedder, tmp_path: Path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailableError, match="broken.npz cannot be read"):
        ToxicityModel.load(path, embedder)


def test_eight_bit_storage_keeps_what_tuning_changed(embedder):
    untouched = _perturbed_top(embedder, std=0.0)
    exact = _perturbed_top(embedder)
    stored = _perturbed_top(embedder)
    round_to_file(stored, embedder, first_layer=5)
    weight = (top.layers[0].output.dense.weight for top in (exact, stored))
    assert not torch.equal(*weight)
    assert torch.equal(exact.head.weight.half().float(), stored.head.weight)  # the head: float16
    untouched_logits, exact_logits, stored_logits = (
        ToxicityModel(top, first_layer=5, stack=(0, 1, 0)).tuned_logits(embedder, TEXTS)
        for top in (untouched, exact, stored)
    )
    moved = np.abs(exact_logits - untouched_logits).max()
    assert moved > 0.1
    assert np.abs(stored_logits - exact_logits).max() < 0.05 * moved


def test_a_file_in_another_format_is_refused(embedder, tmp_path: Path):
    path = tmp_path / "old.npz"
    np.savez(path, format=np.array("float16/0"), first_layer=np.int64(5))
    with pytest.raises(ModelUnavailableError, match="old.npz cannot be read.*float16/0"):
        ToxicityModel.load(path, embedder)


def test_a_file_tuned_from_another_minilm_is_refused(embedder, tmp_path: Path):
    path = tmp_path / "model.npz"
    _model(embedder).save(path, embedder)
    with np.load(path) as data:
        contents = dict(data)
    contents["base_digest"] = np.array("0" * 16)
    np.savez(path, **contents)
    with pytest.raises(ModelUnavailableError, match="weights differ from the installed one"):
        ToxicityModel.load(path, embedder)


def test_the_lexical_logit_gets_a_second_slope_where_it_is_positive(embedder, tmp_path: Path):
    model = _model(embedder)
    assert model.stack == (0.4, 1.3, -0.2, 0.0)  # three numbers: no second slope
    model.stack = (0.4, 1.3, -0.2, 0.7)
    model.save(tmp_path / "model.npz", embedder)
    loaded = ToxicityModel.load(tmp_path / "model.npz", embedder)
    assert loaded.stack == pytest.approx((0.4, 1.3, -0.2, 0.7))
    lexical = np.array([0.1, 0.9, 0.5])
    lexical_logit = np.log(lexical / (1 - lexical))
    tuned = model.tuned_logits(embedder, TEXTS)
    z = 0.4 * lexical_logit + 0.7 * np.maximum(lexical_logit, 0) + 1.3 * tuned - 0.2
    assert np.allclose(loaded.predict(embedder, TEXTS, lexical), 1 / (1 + np.exp(-z)), atol=1e-6)
    with pytest.raises(ValueError, match="3 or 4 numbers, not 2"):
        model.stack = (0.4, 1.3)
