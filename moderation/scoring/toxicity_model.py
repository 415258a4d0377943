"""The offline toxicity model: MiniLM with its top layer fine-tuned, stacked with the lexical model.

all-MiniLM-L6-v2 (bundled, shared with the relevance scorer) reads the comment. Its first
layers run as shipped; a copy of its last layer, fine-tuned to tell toxic from civil comments,
reads their output, and a linear head over the mean of its tokens gives the *tuned* logit. A
logistic regression over (lexical logit, tuned logit), fitted on comments held out from the
fine-tuning, gives ``toxicity``::

    toxicity = sigmoid(a * logit(lexical) + b * tuned + c)

Only what fine-tuning changed is stored (``models/toxicity_tuned.npz``, under 2 MB): the tuned
layer as its difference from the shipped one, each weight matrix in 8-bit integers with a scale
per row, the head, and the three stacking numbers. The rest is the bundled MiniLM, loaded once
per process. Training rounds the layer to what the file keeps *before* fitting the stack, so
the stored model is the one that was measured. ``moderation train FILE...`` refits the model
(see ``moderation.offline.training``); its provenance and held-out figures are in
``docs/scoring.md``.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moderation import defaults
from moderation.exceptions import ModelUnavailableError
from moderation.scoring._embedding import Embedder
from moderation.scoring._embedding import run_layers as _run_layers
from moderation.scoring._readable import original_span, readable, readable_text
from moderation.textfeatures import whole_characters

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = MODELS_DIR / "toxicity_tuned.npz"
DEFAULT_SCALE_PATH = MODELS_DIR / "toxicity_tuned.perspective.json"
"""The shipped model's map to Perspective's levels (``moderation.perspective.scale``)."""

FILE_FORMAT = "minilm-top-int8-delta/2"
_SINGLE_LABEL_FORMAT = "minilm-top-int8-delta/1"
"""The first format: one label (``toxicity``), one stacking row; still read."""

DEFAULT_MAX_TOKENS = 128
"""Word pieces the tuned layer reads (the lexical model reads the whole comment)."""

DEFAULT_TUNED_LAYERS = defaults.DEFAULT_TUNED_LAYERS

_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    logits: np.ndarray = np.log(p / (1 - p))
    return logits


def _stack_row(row: Sequence[float]) -> tuple[float, float, float, float]:
    """(lexical weight, tuned weight, intercept, lexical positive-part weight)."""
    values = [float(v) for v in row]
    if len(values) == 3:
        values.append(0.0)
    if len(values) != 4:
        raise ValueError(f"a stacking row has 3 or 4 numbers, not {len(values)}")
    return (values[0], values[1], values[2], values[3])


def sigmoid(z: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return p


class TunedTop(torch.nn.Module):
    """The fine-tuned top layers of MiniLM and a linear head over their mean-pooled output:
    one logit per label, ``toxicity`` first."""

    def __init__(self, layers: Sequence[torch.nn.Module], hidden_size: int, outputs: int = 1):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.head = torch.nn.Linear(hidden_size, outputs)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, outputs) logits."""
        hidden = _run_layers(self.layers, hidden, mask)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits: torch.Tensor = self.head(pooled)
        return logits

    @classmethod
    def from_embedder(cls, embedder: Embedder, first_layer: int, outputs: int = 1) -> TunedTop:
        """A fresh top: copies of the embedder's layers from ``first_layer`` on."""
        bert = embedder.transformer
        layers = [copy.deepcopy(layer) for layer in bert.encoder.layer[first_layer:]]
        return cls(layers, int(bert.config.hidden_size), outputs)


def bottom_states(
    embedder: Embedder, texts: Sequence[str], *, first_layer: int, max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped MiniLM's hidden states below ``first_layer`` (padded) and the token mask."""
    bert = embedder.transformer
    encoded = embedder.tokenizer(
        [readable_text(whole_characters(text)) for text in texts],
        padding=True,
        truncation=True,
        max_length=max_tokens,
        return_tensors="pt",
    )
    device = next(bert.parameters()).device
    encoded = {key: value.to(device) for key, value in encoded.items()}
    with torch.no_grad():
        hidden = bert.embeddings(
            input_ids=encoded["input_ids"], token_type_ids=encoded.get("token_type_ids")
        )
        hidden = _run_layers(bert.encoder.layer[:first_layer], hidden, encoded["attention_mask"])
    return hidden, encoded["attention_mask"]


def _base_state(
    embedder: Embedder, first_layer: int, top: TunedTop
) -> dict[str, torch.Tensor | None]:
    """What each tensor of ``top`` was tuned from: the shipped layer's, or None (the head)."""
    shipped = torch.nn.ModuleList(embedder.transformer.encoder.layer[first_layer:]).state_dict()
    base = {f"layers.{name}": tensor.detach().cpu().float() for name, tensor in shipped.items()}
    return {name: base.get(name) for name in top.state_dict()}


def _digest(base: dict[str, torch.Tensor | None]) -> str:
    """A fingerprint of the shipped layer, so a file is never added to another MiniLM's."""
    digest = hashlib.sha256()
    for name in sorted(base):
        tensor = base[name]
        if tensor is not None:
            digest.update(name.encode() + tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def _encode(tensor: torch.Tensor, base: torch.Tensor | None) -> dict[str, np.ndarray]:
    """One tensor as the file keeps it.

    A weight matrix of the shipped layer: its change, in int8 with a scale per row (the
    change is small, so 8 bits of it lose little). Anything else (biases, norms, the head,
    which is new): float16, as a change where there is a shipped tensor.
    """
    delta = tensor.detach().cpu().float() - (0 if base is None else base)
    if base is None or delta.dim() != 2:
        return {"half": delta.half().numpy()}
    scale = delta.abs().amax(dim=1) / 127.0
    scale[scale == 0] = 1.0
    levels = torch.round(delta / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return {"int8": levels.numpy(), "scale": scale.numpy()}


def _decode(base: torch.Tensor | None, parts: dict[str, np.ndarray]) -> torch.Tensor:
    if "half" in parts:
        delta = torch.from_numpy(parts["half"].astype(np.float32))
    else:
        levels = torch.from_numpy(parts["int8"].astype(np.float32))
        delta = levels * torch.from_numpy(parts["scale"].astype(np.float32))[:, None]
    return delta if base is None else base + delta


def round_to_file(top: TunedTop, embedder: Embedder, first_layer: int) -> None:
    """Set ``top``'s weights to exactly what :meth:`ToxicityModel.save` keeps of them."""
    base = _base_state(embedder, first_layer, top)
    with torch.no_grad():
        for name, tensor in top.state_dict().items():
            tensor.copy_(_decode(base[name], _encode(tensor, base[name])).to(tensor.dtype))


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, hidden) tensors as one zero-padded batch and its token mask."""
    width = max(int(state.shape[0]) for state in states)
    hidden = states[0].new_zeros((len(states), width, int(states[0].shape[1])))
    mask = torch.zeros((len(states), width), dtype=torch.long, device=states[0].device)
    for i, state in enumerate(states):
        hidden[i, : state.shape[0]] = state
        mask[i, : state.shape[0]] = 1
    return hidden, mask


def length_order(texts: Sequence[str]) -> list[int]:
    """Indices by text length, so a batch pads little."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def model_labels(path: Path) -> tuple[str, ...]:
    """The labels a model file gives, read without loading it (a file that cannot be read
    gives ``toxicity`` alone, as the lexical fallback does; loading it reports why)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) == FILE_FORMAT:
                return tuple(str(v) for v in data["labels"])
    except (OSError, KeyError, ValueError):
        pass
    return ("toxicity",)


class ToxicityModel:
    """The tuned top plus the stacking weights of each label; :meth:`predict` gives P(toxic),
    :meth:`predict_labels` every label's probability."""

    def __init__(
        self,
        top: TunedTop,
        *,
        first_layer: int,
        stack: Sequence[float] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        metadata: dict[str, Any] | None = None,
        labels: Sequence[str] = ("toxicity",),
        stacks: Sequence[Sequence[float]] | None = None,
    ) -> None:
        if not labels or labels[0] != "toxicity":
            raise ValueError(f"the first label must be 'toxicity', not {list(labels)!r}")
        self.top = top.eval()
        self.first_layer = first_layer
        self.labels = tuple(labels)
        if stacks is None:
            stacks = [stack or (0.0, 1.0, 0.0)] + [(0.0, 1.0, 0.0)] * (len(labels) - 1)
        if len(stacks) != len(self.labels):
            raise ValueError(f"{len(stacks)} stacking rows for {len(self.labels)} labels")
        # Per label: lexical weight, tuned weight, intercept, and the weight of the lexical
        # logit's positive part (0 in files written before it existed: three numbers).
        self.stacks = [_stack_row(row) for row in stacks]
        self.max_tokens = max_tokens
        self.metadata = dict(metadata or {})

    @property
    def stack(self) -> tuple[float, ...]:
        """``toxicity``'s stacking weights."""
        return self.stacks[0]

    @stack.setter
    def stack(self, row: Sequence[float]) -> None:
        self.stacks[0] = _stack_row(row)

    def lexical_part(self, lexical: np.ndarray, label: str = "toxicity") -> np.ndarray:
        """What the lexical probability adds to ``label``'s stacked logit: linear in its
        logit, plus a second slope where the logit is positive (the lexical model is
        trusted more once it is sure)."""
        a, _, _, d = self.stacks[self.labels.index(label)]
        z = logit(lexical)
        part: np.ndarray = a * z + d * np.maximum(z, 0.0)
        return part

    def tuned_logits(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """The tuned top's ``toxicity`` logit per text."""
        return self.tuned_label_logits(embedder, texts)[:, 0]

    def tuned_label_logits(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """The tuned top's logits, (texts, labels), over the lower layers' states that the
        embedder's one pass per comment keeps (the same numbers as a pass cut to
        ``max_tokens``)."""
        states = embedder.states(texts, layer=self.first_layer, tokens=self.max_tokens)
        device = next(embedder.transformer.parameters()).device
        return self.logits_of_states(states, device=device, step=embedder.batch_size)

    def logits_of_states(
        self, states: Sequence[torch.Tensor], *, device: Any = "cpu", step: int = 64
    ) -> np.ndarray:
        """(texts, labels) logits of the top over lower-layer states, ``step`` at a time in
        order of length (one pass of the top per scoring batch)."""
        out = np.zeros((len(states), len(self.labels)), dtype=np.float64)
        order = sorted(range(len(states)), key=lambda i: int(states[i].shape[0]))
        self.top.to(device)
        for start in range(0, len(order), step):
            index = order[start : start + step]
            hidden, mask = pad_states([states[i].to(device).float() for i in index])
            with torch.no_grad():
                out[index] = self.top(hidden, mask).double().cpu().numpy()
        return out

    def piece_offsets(
        self, embedder: Embedder, texts: Sequence[str]
    ) -> list[list[tuple[int, int]]]:
        """Per text, the characters of the text behind each word piece the top reads (the
        pieces of :meth:`Embedder.states` cut to ``max_tokens``; (0, 0) for [CLS], [SEP])."""
        out: list[list[tuple[int, int]]] = []
        for text in texts:
            seen, origin = readable(whole_characters(text))
            encoded = embedder.tokenizer(
                [seen], truncation=True, max_length=self.max_tokens, return_offsets_mapping=True
            )
            out.append(
                [
                    original_span(origin, int(a), int(b)) if b > a else (0, 0)
                    for a, b in encoded["offset_mapping"][0]
                ]
            )
        return out

    def top_attributions(self, states: Sequence[torch.Tensor]) -> list[np.ndarray]:
        """Per text, gradient x input of the tuned ``toxicity`` logit at the top's input, per
        word piece: how much each piece's lower-layer state pushes the logit up. The
        backward pass goes through the tuned layers only (the lower ones are shared and
        stay as shipped)."""
        out: list[np.ndarray] = []
        for state in states:
            hidden = state.float()[None].detach().requires_grad_(True)
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
            with torch.enable_grad():
                logit = self.top(hidden, mask)[:, 0].sum()
                (grad,) = torch.autograd.grad(logit, hidden)
            out.append((grad * hidden).sum(-1)[0].detach().double().cpu().numpy())
        return out

    def masked_logits(
        self, state: torch.Tensor, hidden_pieces: Sequence[Sequence[int]], *, step: int = 32
    ) -> np.ndarray:
        """(variants, labels) logits of the top over one text's lower-layer ``state`` with
        the pieces of each ``hidden_pieces`` entry masked out (a word taken away from the
        tuned layers; the lower layers still saw it). One batch of top passes, no lower
        pass: the cheap stand-in for re-scoring the text without the word."""
        out = np.zeros((len(hidden_pieces), len(self.labels)), dtype=np.float64)
        hidden = state.float()
        for start in range(0, len(hidden_pieces), step):
            chunk = hidden_pieces[start : start + step]
            mask = torch.ones((len(chunk), hidden.shape[0]), dtype=torch.long)
            for row, pieces in enumerate(chunk):
                mask[row, list(pieces)] = 0
            batch = hidden[None].expand(len(chunk), -1, -1)
            with torch.no_grad():
                out[start : start + len(chunk)] = (
                    self.top(batch, mask.to(hidden.device)).double().cpu().numpy()
                )
        return out

    def combine(
        self, lexical: np.ndarray, tuned_logits: np.ndarray, label: str = "toxicity"
    ) -> np.ndarray:
        """P(label) from the lexical probability and the tuned top's logit for ``label``."""
        _, b, c, _ = self.stacks[self.labels.index(label)]
        tuned = np.asarray(tuned_logits, dtype=np.float64)
        return sigmoid(self.lexical_part(lexical, label) + b * tuned + c)

    def combine_labels(self, lexical: np.ndarray, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Every label's probability from (texts, labels) tuned logits."""
        return {
            label: self.combine(lexical, logits[:, i], label) for i, label in enumerate(self.labels)
        }

    def predict(self, embedder: Embedder, texts: Sequence[str], lexical: np.ndarray) -> np.ndarray:
        return self.combine(lexical, self.tuned_logits(embedder, texts))

    def predict_labels(
        self, embedder: Embedder, texts: Sequence[str], lexical: np.ndarray
    ) -> dict[str, np.ndarray]:
        return self.combine_labels(lexical, self.tuned_label_logits(embedder, texts))

    # --- file format: changes to the shipped layer, 8-bit, no pickle ----------------------
    def save(self, path: Path, embedder: Embedder) -> None:
        """Write the model; ``embedder`` is the MiniLM whose layer the top was tuned from."""
        base = _base_state(embedder, self.first_layer, self.top)
        arrays: dict[str, Any] = {
            f"delta.{name}.{kind}": array
            for name, tensor in self.top.state_dict().items()
            for kind, array in _encode(tensor, base[name]).items()
        }
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array(FILE_FORMAT),
            base_digest=np.array(_digest(base)),
            labels=np.array(list(self.labels)),
            stacks=np.asarray(self.stacks, dtype=np.float64),
            first_layer=np.int64(self.first_layer),
            max_tokens=np.int64(self.max_tokens),
            metadata=np.array(json.dumps(self.metadata, sort_keys=True)),
            **arrays,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path, embedder: Embedder) -> ToxicityModel:
        try:
            with np.load(path, allow_pickle=False) as data:
                file_format = str(data["format"])
                if file_format not in (FILE_FORMAT, _SINGLE_LABEL_FORMAT):
                    raise ValueError(f"format {file_format!r}, expected {FILE_FORMAT!r}")
                if file_format == _SINGLE_LABEL_FORMAT:
                    labels, stacks = ["toxicity"], [[float(v) for v in data["stack"]]]
                else:
                    labels = [str(v) for v in data["labels"]]
                    stacks = [[float(v) for v in row] for row in data["stacks"]]
                first_layer = int(data["first_layer"])
                top = TunedTop.from_embedder(embedder, first_layer, len(labels))
                base = _base_state(embedder, first_layer, top)
                if str(data["base_digest"]) != _digest(base):
                    raise ValueError(
                        "it was tuned from a MiniLM whose weights differ from the installed one"
                    )
                parts: dict[str, dict[str, np.ndarray]] = {}
                for key in data.files:
                    if key.startswith("delta."):
                        name, kind = key[len("delta.") :].rsplit(".", 1)
                        parts.setdefault(name, {})[kind] = data[key]
                top.load_state_dict({name: _decode(base[name], parts[name]) for name in base})
                return cls(
                    top,
                    first_layer=first_layer,
                    labels=labels,
                    stacks=stacks,
                    max_tokens=int(data["max_tokens"]),
                    metadata=json.loads(str(data["metadata"])),
                )
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise ModelUnavailableError(
                f"The offline toxicity model {path} cannot be read ({exc}); retrain it with "
                "`moderation train FILE` or delete it to fall back to the lexical score."
            ) from exc
