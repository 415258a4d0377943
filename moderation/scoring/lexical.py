"""Offline toxicity: works with no network and no downloaded weights.

Two parts, both shipped:

* a lexical baseline, alt-profanity-check's linear model over word n-grams;
* MiniLM with its top layer fine-tuned on toxic and civil comments, stacked with the lexical
  score (``moderation.scoring.toxicity_model``, ``models/toxicity_tuned.npz``), so insults
  without swear words count, and swear words in harmless comments count less.
  ``moderation train FILE`` refits it; its provenance (data, licence, command, held-out
  metrics) is in ``docs/scoring.md``.

``score`` gives the scores and cheap evidence; occlusion spans, which re-score each word,
come from ``explain``, which the explain job runs after the decision.

When the model file is absent the score is the lexical baseline alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from moderation.exceptions import ModelUnavailableError
from moderation.scoring._embedding import Embedder
from moderation.scoring._explain import (
    DEFAULT_EXPLAIN_THRESHOLD,
    occlusion_spans,
    remove_word,
    span_fields,
    word_sums,
)
from moderation.scoring.base import CommentInput, ScoreResult
from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH, ToxicityModel, logit, sigmoid

DEFAULT_MAX_CHARS = 4000
"""Characters of a comment that are scored; MiniLM reads ~256 word pieces anyway."""


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


MODEL_NAME = "minilm-tuned+profanity-check"
LEXICAL_MODEL_NAME = "profanity-check"


class OfflineToxicityScorer:
    """``toxicity`` without network access (``MODERATION_TOXICITY_BACKEND=offline``), and
    the model's other labels (``threat``, ``identity_attack``, ...) when it has them."""

    name = "toxicity"

    def __init__(
        self,
        *,
        embedder: Embedder | None,
        model: ToxicityModel | None = None,
        explain_threshold: float = DEFAULT_EXPLAIN_THRESHOLD,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        if model is not None and embedder is None:
            raise ValueError("the tuned toxicity model needs the sentence-embedding model")
        self.embedder = embedder
        self.model = model
        self.explain_threshold = explain_threshold
        self.max_chars = max_chars
        self.labels: tuple[str, ...] = model.labels if model is not None else ("toxicity",)
        if model is not None and embedder is not None:
            # The embedder's one pass per comment keeps what the tuned layer reads.
            embedder.keep_states(layer=model.first_layer, tokens=model.max_tokens)
        lexical_probabilities(["warm up"])  # load the lexical model now, not on the first job

    @classmethod
    def from_files(
        cls, *, embedder: Embedder | None, model_path: Path | None = DEFAULT_MODEL_PATH
    ) -> OfflineToxicityScorer:
        model = None
        if model_path is not None and model_path.exists() and embedder is not None:
            model = ToxicityModel.load(model_path, embedder)
        return cls(embedder=embedder, model=model)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        texts = [text[: self.max_chars] for text in texts]
        lexical = lexical_probabilities(texts)
        if self.model is None or self.embedder is None:
            return lexical
        return self.model.predict(self.embedder, texts, lexical)

    def score(self, comments: Sequence[CommentInput]) -> list[ScoreResult]:
        if not comments:
            return []
        texts = [comment.text[: self.max_chars] for comment in comments]
        lexical = lexical_probabilities(texts)
        tuned: list[float | None] = [None] * len(texts)
        if self.model is not None and self.embedder is not None:
            logits = self.model.tuned_label_logits(self.embedder, texts)
            labelled = self.model.combine_labels(lexical, logits)
            tuned = [round(float(p), 4) for p in sigmoid(logits[:, 0])]
            model = MODEL_NAME
        else:
            labelled, model = {"toxicity": lexical}, LEXICAL_MODEL_NAME
        results = []
        for index, (lex, tuned_score) in enumerate(zip(lexical, tuned, strict=True)):
            score = float(labelled["toxicity"][index])
            evidence: dict[str, object] = {"model": model, "lexical": round(float(lex), 4)}
            if tuned_score is not None:
                evidence["tuned"] = tuned_score
            evidence.update(span_fields(score, self.explain_threshold))
            scores = {label: float(values[index]) for label, values in labelled.items()}
            results.append(ScoreResult(scores=scores, evidence={"toxicity": evidence}))
        return results

    def explain(
        self, texts: Sequence[str], scores: Sequence[float]
    ) -> list[list[dict[str, object]]]:
        """Occlusion spans for texts scored ``scores`` (off the decision path: the explain
        job calls this after the decision; [] under the threshold)."""
        texts = [text[: self.max_chars] for text in texts]
        return occlusion_spans(
            texts,
            [float(s) for s in scores],
            self.predict,
            threshold=self.explain_threshold,
            shortlist=self._estimated_drops,
        )

    def _estimated_drops(
        self, texts: Sequence[str], words: Sequence[Sequence[tuple[int, int]]]
    ) -> list[np.ndarray]:
        """Per text, each word's estimated drop in the stacked logit when it is removed: the
        lexical model's own occlusion (cheap: a linear model) plus gradient x input of the
        tuned layer, each weighted as the stack weighs it."""
        pairs = zip(texts, words, strict=True)
        variants = [remove_word(text, a, b) for text, spans in pairs for a, b in spans]
        base = logit(lexical_probabilities(texts))
        occluded = logit(lexical_probabilities(variants))
        tuned: list[np.ndarray] = [np.zeros(len(spans)) for spans in words]
        lexical_weight, tuned_weight = 1.0, 0.0
        if self.model is not None and self.embedder is not None:
            lexical_weight, tuned_weight = self.model.stack[0], self.model.stack[1]
            attributions = self.model.token_attributions(self.embedder, texts)
            tuned = [
                word_sums(spans, offsets, values)
                for spans, (offsets, values) in zip(words, attributions, strict=True)
            ]
        estimates, at = [], 0
        for index, spans in enumerate(words):
            lexical_drop = base[index] - occluded[at : at + len(spans)]
            at += len(spans)
            estimates.append(lexical_weight * lexical_drop + tuned_weight * tuned[index])
        return estimates
