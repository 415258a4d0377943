"""Offline toxicity: works with no network and no downloaded weights.

Two parts, both shipped:

* a lexical baseline, alt-profanity-check's linear model over word n-grams;
* a logistic-regression head (``models/toxicity_head.npz``) over the MiniLM sentence
  embedding plus the lexical score's logit, so insults without swear words count, and
  swear words in harmless comments count less. ``moderation train FILE`` refits it; its
  provenance (data, licence, command, held-out metrics) is in ``docs/scoring.md``.

When the head file is absent the score is the lexical baseline alone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moderation.exceptions import ModelUnavailableError
from moderation.scoring._embedding import Embedder
from moderation.scoring._explain import DEFAULT_EXPLAIN_THRESHOLD, occlusion_spans
from moderation.scoring.base import CommentInput, ScoreResult

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_HEAD_PATH = MODELS_DIR / "toxicity_head.npz"

DEFAULT_MAX_CHARS = 4000
"""Characters of a comment that are scored; MiniLM reads ~256 word pieces anyway."""

_EPS = 1e-6


def lexical_probabilities(texts: Sequence[str]) -> np.ndarray:
    """alt-profanity-check's probability that each text is offensive."""
    if not texts:
        return np.zeros(0, dtype=np.float64)
    try:
        from profanity_check import predict_prob
    except Exception as exc:  # joblib/sklearn mismatch surfaces as several types
        raise ModelUnavailableError(
            f"The lexical toxicity model (alt-profanity-check) cannot be loaded ({exc}). "
            "Reinstall 'alt-profanity-check', or set MODERATION_TOXICITY_BACKEND=detoxify:original."
        ) from exc
    return np.asarray(predict_prob(list(texts)), dtype=np.float64)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def head_features(embeddings: np.ndarray, lexical: np.ndarray) -> np.ndarray:
    """What the head reads: the sentence embedding, the lexical logit and the lexical score."""
    lexical = np.asarray(lexical, dtype=np.float32).reshape(-1, 1)
    logit = np.clip(_logit(lexical), -12, 12).astype(np.float32)
    return np.hstack([np.asarray(embeddings, dtype=np.float32), logit / 4.0, lexical])


@dataclass
class ToxicityHead:
    """A logistic regression over :func:`head_features`."""

    coef: np.ndarray
    intercept: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict(self, embeddings: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        z = head_features(embeddings, lexical) @ self.coef.astype(np.float32) + self.intercept
        return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            coef=self.coef.astype(np.float32),
            intercept=np.float32(self.intercept),
            metadata=np.array(json.dumps(self.metadata, sort_keys=True)),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> ToxicityHead:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    coef=np.asarray(data["coef"], dtype=np.float32),
                    intercept=float(data["intercept"]),
                    metadata=json.loads(str(data["metadata"])),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ModelUnavailableError(
                f"The offline toxicity head {path} cannot be read ({exc}); retrain it with "
                "`moderation train FILE` or delete it to fall back to the lexical score."
            ) from exc


class OfflineToxicityScorer:
    """``toxicity`` without network access (``MODERATION_TOXICITY_BACKEND=offline``)."""

    name = "toxicity"
    labels: tuple[str, ...] = ("toxicity",)

    def __init__(
        self,
        *,
        embedder: Embedder | None,
        head: ToxicityHead | None = None,
        explain_threshold: float = DEFAULT_EXPLAIN_THRESHOLD,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        if head is not None and embedder is None:
            raise ValueError("the toxicity head needs the sentence-embedding model")
        self.embedder = embedder
        self.head = head
        self.explain_threshold = explain_threshold
        self.max_chars = max_chars
        lexical_probabilities(["warm up"])  # load the lexical model now, not on the first job

    @classmethod
    def from_files(
        cls, *, embedder: Embedder | None, head_path: Path | None = DEFAULT_HEAD_PATH
    ) -> OfflineToxicityScorer:
        head = None
        if head_path is not None and head_path.exists() and embedder is not None:
            head = ToxicityHead.load(head_path)
        return cls(embedder=embedder, head=head)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        texts = [text[: self.max_chars] for text in texts]
        lexical = lexical_probabilities(texts)
        if self.head is None or self.embedder is None:
            return lexical
        return self.head.predict(self.embedder.encode(texts), lexical)

    def score(self, comments: Sequence[CommentInput]) -> list[ScoreResult]:
        if not comments:
            return []
        texts = [comment.text[: self.max_chars] for comment in comments]
        lexical = lexical_probabilities(texts)
        if self.head is not None and self.embedder is not None:
            scores = self.head.predict(self.embedder.encode(texts), lexical)
        else:
            scores = lexical
        spans = occlusion_spans(
            texts, [float(s) for s in scores], self.predict, threshold=self.explain_threshold
        )
        model = "minilm-logreg+profanity-check" if self.head is not None else "profanity-check"
        return [
            ScoreResult(
                scores={"toxicity": float(score)},
                evidence={
                    "toxicity": {
                        "model": model,
                        "lexical": round(float(lex), 4),
                        "spans": span_list,
                    }
                },
            )
            for score, lex, span_list in zip(scores, lexical, spans, strict=True)
        ]
