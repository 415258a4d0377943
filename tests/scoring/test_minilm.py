"""MiniLM in plain torch computes what transformers' BertModel computes, from the same files,
and a process that loads the scorers imports neither transformers nor sentence-transformers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from moderation.exceptions import ModelUnavailableError
from moderation.scoring import _minilm
from moderation.scoring._embedding import Embedder, bundled_model_path, run_layers

pytestmark = pytest.mark.slow

TEXTS = [
    "Thanks for the careful reporting on the helicopter deal.",
    "You are an idiot and so is everyone who agrees with you!!!",
    "Café owners in Zürich say the naïve plan won't work — résumé attached.",
    "",
    " ".join(f"Sentence {i} says the ministry ordered more helicopters." for i in range(60)),
    "https://example.com/offer?id=42 BUY NOW 🐍🐍",
]


@pytest.fixture(scope="module")
def reference():
    from transformers import AutoTokenizer, BertModel

    path = bundled_model_path()
    return BertModel.from_pretrained(str(path), local_files_only=True).eval(), (
        AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    )


def test_the_word_pieces_and_their_offsets_are_the_tokenizers(reference, embedder):
    _, tokenizer = reference
    expected = tokenizer(TEXTS, truncation=True, max_length=256, return_offsets_mapping=True)
    got = embedder.tokenizer(TEXTS, truncation=True, max_length=256, return_offsets_mapping=True)
    assert got["input_ids"] == expected["input_ids"]
    assert [[tuple(o) for o in row] for row in got["offset_mapping"]] == [
        [tuple(o) for o in row] for row in expected["offset_mapping"]
    ]
    assert max(len(row) for row in got["input_ids"]) == 256


def test_padded_batches_give_bertmodels_hidden_states(reference, embedder):
    model, tokenizer = reference
    encoded = tokenizer(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    ours = embedder.tokenizer(TEXTS, padding=True, max_length=256, return_tensors="pt")
    assert torch.equal(ours["input_ids"], encoded["input_ids"])
    assert torch.equal(ours["attention_mask"], encoded["attention_mask"])
    with torch.no_grad():
        expected = model(**encoded).last_hidden_state
        hidden = embedder.transformer.embeddings(encoded["input_ids"], encoded["token_type_ids"])
        got = run_layers(embedder.transformer.encoder.layer, hidden, encoded["attention_mask"])
    real = encoded["attention_mask"].bool()
    assert torch.allclose(got[real], expected[real], atol=1e-5)


def test_the_parameters_are_named_as_in_transformers(reference, embedder):
    model, _ = reference
    expected = {k for k in model.state_dict() if not k.startswith("pooler.")}
    expected -= {k for k in expected if k.endswith(("position_ids", "token_type_ids"))}
    assert set(embedder.transformer.state_dict()) == expected


def test_loading_the_scorers_imports_neither_transformers_nor_sentence_transformers():
    code = (
        "import sys\n"
        "from moderation.scoring import build_scorers\n"
        "from moderation.settings import Settings\n"
        "scorers = build_scorers(Settings(), redis=None)\n"
        "scorers.get('relevance').embedder.encode(['hello'])\n"
        "print(sorted(m for m in ('transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_folder_with_a_weight_missing_says_which(tmp_path: Path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "minilm"
    shutil.copytree(bundled_model_path(), folder)
    weights = load_file(str(folder / "model.safetensors"))
    weights.pop("encoder.layer.5.output.dense.weight")
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(ModelUnavailableError, match=r"missing \['encoder.layer.5.output.dense"):
        Embedder(folder)


def test_a_config_of_another_architecture_is_refused(tmp_path: Path):
    config = json.loads((bundled_model_path() / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(ValueError, match="model_type 'roberta', not 'bert'"):
        _minilm.BertConfig.from_file(tmp_path / "config.json")
