"""Toxicity from Detoxify (``MODERATION_TOXICITY_BACKEND=detoxify:<model type>``).

Weights come through Detoxify itself: downloaded on first use where a network exists, or,
offline, from ``MODERATION_DETOXIFY_CHECKPOINT`` (a Detoxify ``.ckpt``) with the
Hugging Face config and tokenizer files in ``MODERATION_DETOXIFY_CONFIG_DIR``. The labels
are the loaded model's own class names (Detoxify's: ``toxicity``, ``severe_toxicity``,
``obscene``, ``threat``, ``insult``, ``identity_attack`` and, for some models,
``sexual_explicit``).

``Detoxify.predict`` runs one forward pass over whatever list it is given, so comments are
cut to a fixed length and sent in batches of ``MODERATION_SCORING_BATCH_SIZE``.

Detoxify reads a checkpoint with ``torch.load(..., weights_only=False)``, that is with
pickle, which runs whatever code the file holds: configure only checkpoints from a source
you trust. ``load_detoxify`` refuses one that another user could have changed: a file, or
a directory holding it, writable by group or others, or owned by someone other than the
service's user or root (``trusted_checkpoint``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation import defaults
from moderation.exceptions import ModelUnavailableError
from moderation.scoring._explain import DEFAULT_EXPLAIN_THRESHOLD, occlusion_spans, span_fields
from moderation.scoring.base import CommentInput, ScoreResult

MODEL_TYPES = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")

TOXICITY_LABELS = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
)
"""Detoxify's abuse labels. Other outputs (the unbiased model's identity mentions, such as
``female`` or ``muslim``) are not abuse: they go to the evidence, not to the scores."""

RELEASED_LABELS = {
    "original": TOXICITY_LABELS[:6],
    "original-small": TOXICITY_LABELS[:6],
    "unbiased": TOXICITY_LABELS,
    "unbiased-small": TOXICITY_LABELS,
    "multilingual": TOXICITY_LABELS,  # the unbiased model's categories since Detoxify 0.4
}
"""The abuse labels of Detoxify's released weights, known without loading them (a local
``MODERATION_DETOXIFY_CHECKPOINT``'s come from its own config, known only once loaded)."""

DEFAULT_MAX_CHARS = 3000
"""Characters kept of a comment before tokenising (~600 word pieces, above the limit)."""

DEFAULT_MAX_TOKENS = 512
"""Word pieces per comment: the position limit of Detoxify's BERT/RoBERTa/ALBERT models."""

DEFAULT_MAX_OCCLUDED_WORDS = 40
"""Words re-scored per toxic comment for its spans: a transformer pass each."""


def parse_backend(backend: str) -> str:
    """The Detoxify model type of a ``detoxify:<type>`` backend setting."""
    prefix, _, model_type = backend.partition(":")
    if prefix != "detoxify" or model_type not in MODEL_TYPES:
        raise ModelUnavailableError(
            f"Setting MODERATION_TOXICITY_BACKEND has value {backend!r}: expected 'offline' or "
            f"'detoxify:<type>' with type one of {', '.join(MODEL_TYPES)}."
        )
    return model_type


def trusted_checkpoint(checkpoint: Path) -> None:
    """Refuse (``ModelUnavailableError``) a checkpoint that someone other than this user or
    root could have written: pickle runs the code of whoever did. Checks the file and the
    directory it is in, after resolving symbolic links (and the directory of the link)."""
    real = Path(os.path.realpath(checkpoint))
    shown = repr(str(checkpoint)) + (f" (resolved to {str(real)!r})" if real != checkpoint else "")
    owners = {0, os.geteuid()}
    checks = [(real, "file"), (real.parent, "directory")]
    link_dir = Path(os.path.realpath(Path(checkpoint).parent))
    if link_dir != real.parent:  # a link elsewhere: whoever can replace it picks the file
        checks.append((link_dir, "link's directory"))
    for path, what in checks:
        info = path.stat()
        mode = stat.S_IMODE(info.st_mode)
        problem = None
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            who = "others" if mode & stat.S_IWOTH else "its group"
            problem = (
                f"its {what} {str(path)!r} is writable by {who} (mode {mode:04o}); "
                f"run chmod go-w {str(path)!r}"
            )
        elif info.st_uid not in owners:
            problem = (
                f"its {what} {str(path)!r} belongs to user id {info.st_uid}, not to this "
                f"service's user ({os.geteuid()}) or root"
            )
        if problem is not None:
            raise ModelUnavailableError(
                f"Detoxify checkpoint {shown} (MODERATION_DETOXIFY_CHECKPOINT) is refused: "
                f"{problem}. Detoxify loads checkpoints with pickle, which runs any code in "
                "the file, so only a file that no other user can change is loaded."
            )


def load_detoxify(
    model_type: str,
    *,
    checkpoint: Path | None = None,
    config_dir: Path | None = None,
    device: str = "cpu",
) -> Any:
    """A ``detoxify.Detoxify``, or :class:`ModelUnavailableError` saying what to set."""
    advice = (
        "Give local weights with MODERATION_DETOXIFY_CHECKPOINT=/path/to/model.ckpt and "
        "MODERATION_DETOXIFY_CONFIG_DIR=/path/to/hf-config-and-tokenizer-dir, or use "
        "MODERATION_TOXICITY_BACKEND=offline (the shipped model)."
    )
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ModelUnavailableError(
            f"Detoxify checkpoint {str(checkpoint)!r} (MODERATION_DETOXIFY_CHECKPOINT) "
            f"does not exist. {advice}"
        )
    if checkpoint is not None:
        trusted_checkpoint(Path(checkpoint))
    if config_dir is not None and not Path(config_dir).is_dir():
        raise ModelUnavailableError(
            f"Detoxify config directory {str(config_dir)!r} (MODERATION_DETOXIFY_CONFIG_DIR) "
            f"does not exist. {advice}"
        )
    try:
        from detoxify import Detoxify

        return Detoxify(
            model_type,
            checkpoint=str(checkpoint) if checkpoint is not None else None,
            device=device,
            huggingface_config_path=str(config_dir) if config_dir is not None else None,
        )
    except Exception as exc:  # download, unpickling and HF loading fail in many types
        where = (
            f"from {checkpoint}"
            if checkpoint is not None
            else "by download (no MODERATION_DETOXIFY_CHECKPOINT set)"
        )
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(
            f"Detoxify model {model_type!r} could not be loaded {where}: {reason[:300]}. {advice}"
        ) from exc


class DetoxifyScorer:
    """Detoxify's labels, in [0, 1], with the words that drove ``toxicity`` as evidence."""

    name = "toxicity"

    def __init__(
        self,
        detoxify: Any,
        *,
        batch_size: int = defaults.DEFAULT_SCORING_BATCH_SIZE,
        max_chars: int = DEFAULT_MAX_CHARS,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        explain_threshold: float = DEFAULT_EXPLAIN_THRESHOLD,
        model_type: str = "",
    ) -> None:
        self.detoxify = detoxify
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.explain_threshold = explain_threshold
        self.model_type = model_type
        self.class_names: tuple[str, ...] = tuple(detoxify.class_names)
        labels = tuple(name for name in self.class_names if name in TOXICITY_LABELS)
        self.labels: tuple[str, ...] = labels or self.class_names
        if "toxicity" not in self.labels:
            raise ModelUnavailableError(
                f"The Detoxify model's classes {list(self.class_names)} have no 'toxicity'; "
                "set MODERATION_DETOXIFY_CHECKPOINT to a Detoxify toxicity checkpoint."
            )
        # Detoxify truncates to the tokenizer's limit, which a bare tokenizer leaves unbounded.
        tokenizer = detoxify.tokenizer
        positions = getattr(detoxify.model.config, "max_position_embeddings", max_tokens)
        limit = min(max_tokens, positions, int(getattr(tokenizer, "model_max_length", max_tokens)))
        tokenizer.model_max_length = limit
        self.max_tokens = limit

    @classmethod
    def from_settings(cls, settings: Any) -> DetoxifyScorer:
        model_type = parse_backend(settings.toxicity_backend)
        detoxify = load_detoxify(
            model_type,
            checkpoint=settings.detoxify_checkpoint,
            config_dir=settings.detoxify_config_dir,
            device=settings.device,
        )
        return cls(detoxify, batch_size=settings.scoring_batch_size, model_type=model_type)

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Every class's probabilities, one ``Detoxify.predict`` call per batch."""
        out: dict[str, list[float]] = {name: [] for name in self.class_names}
        for start in range(0, len(texts), self.batch_size):
            batch = [text[: self.max_chars] for text in texts[start : start + self.batch_size]]
            result = self.detoxify.predict(batch)
            for name in self.class_names:
                values = result[name]
                # Detoxify squeezes a batch of one down to a bare float.
                out[name].extend(values if isinstance(values, list) else [values])
        return {name: np.asarray(values, dtype=np.float64) for name, values in out.items()}

    def _toxicity(self, texts: list[str]) -> np.ndarray:
        return self.predict(texts)["toxicity"]

    def score(self, comments: Sequence[CommentInput]) -> list[ScoreResult]:
        if not comments:
            return []
        texts = [comment.text[: self.max_chars] for comment in comments]
        predictions = self.predict(texts)
        toxicity = predictions["toxicity"]
        extra = [name for name in self.class_names if name not in self.labels]
        results = []
        for index, value in enumerate(toxicity):
            evidence: dict[str, Any] = {
                "model": f"detoxify:{self.model_type}" if self.model_type else "detoxify",
                **span_fields(float(value), self.explain_threshold),
            }
            if extra:
                evidence["other_outputs"] = {
                    name: round(float(predictions[name][index]), 4) for name in extra
                }
            results.append(
                ScoreResult(
                    scores={name: float(predictions[name][index]) for name in self.labels},
                    evidence={"toxicity": evidence},
                )
            )
        return results

    def explain(
        self, texts: Sequence[str], scores: Sequence[float]
    ) -> list[list[dict[str, object]]]:
        """Occlusion spans of ``toxicity`` (the explain job runs this after the decision)."""
        texts = [text[: self.max_chars] for text in texts]
        return occlusion_spans(
            texts,
            [float(v) for v in scores],
            self._toxicity,
            threshold=self.explain_threshold,
            max_words=DEFAULT_MAX_OCCLUDED_WORDS,
        )
