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
from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH, ToxicityModel, sigmoid

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
        job calls this after the decision; [] under the threshold).

        With the tuned model, a word is taken away from the lexical model (the text without
        it, re-scored: a linear model) and from the tuned layers (its word pieces masked out
        of their input: a top pass, no lower pass), and the two are stacked as the score
        is; the words tried are the ``DEFAULT_SHORTLIST_SIZE`` that gradient x input of the
        tuned layers and the lexical model's own drops rank highest."""
        texts = [text[: self.max_chars] for text in texts]
        values = [float(s) for s in scores]
        if self.model is None or self.embedder is None:
            return occlusion_spans(texts, values, self.predict, threshold=self.explain_threshold)
        inside = _TunedInside(self.model, self.embedder, texts, values, self.explain_threshold)
        return occlusion_spans(
            texts,
            values,
            self.predict,
            threshold=self.explain_threshold,
            shortlist=inside.estimated_drops,
            variant_scores=inside.without_words,
        )


class _TunedInside:
    """One explain call's view of the tuned layers: each explained text's lower-layer
    states (one lower pass, or none when the embedder still holds the decision's read) and
    the characters behind each of its word pieces."""

    def __init__(
        self,
        model: ToxicityModel,
        embedder: Embedder,
        texts: Sequence[str],
        scores: Sequence[float],
        threshold: float,
    ) -> None:
        self.model = model
        explained = list(
            dict.fromkeys(t for t, s in zip(texts, scores, strict=True) if s >= threshold)
        )
        states = embedder.states(explained, layer=model.first_layer, tokens=model.max_tokens)
        offsets = model.piece_offsets(embedder, explained)
        self.states = dict(zip(explained, states, strict=True))
        self.offsets = dict(zip(explained, offsets, strict=True))

    def pieces(self, text: str, start: int, end: int) -> list[int]:
        """The word pieces (of those the top reads) that start inside ``text[start:end]``."""
        return [i for i, (a, b) in enumerate(self.offsets[text]) if b > a and start <= a < end]

    def estimated_drops(
        self, texts: Sequence[str], words: Sequence[Sequence[tuple[int, int]]]
    ) -> list[np.ndarray]:
        """Per text, each word's estimated drop in the stacked logit when it is removed: the
        lexical model's own occlusion plus gradient x input at the tuned layers' input, each
        weighted as the stack weighs it."""
        pairs = zip(texts, words, strict=True)
        variants = [remove_word(text, a, b) for text, spans in pairs for a, b in spans]
        base = self.model.lexical_part(lexical_probabilities(texts))
        occluded = self.model.lexical_part(lexical_probabilities(variants))
        tuned_weight = self.model.stack[1]
        attributions = self.model.top_attributions([self.states[t] for t in texts])
        estimates, at = [], 0
        for index, (text, spans) in enumerate(zip(texts, words, strict=True)):
            lexical_drop = base[index] - occluded[at : at + len(spans)]
            at += len(spans)
            tuned = word_sums(spans, self.offsets[text], attributions[index])
            estimates.append(lexical_drop + tuned_weight * tuned)
        return estimates

    def without_words(self, items: Sequence[tuple[str, tuple[int, int]]]) -> np.ndarray:
        """P(toxic) of each text without the word: lexical re-scored, tuned masked."""
        lexical = lexical_probabilities([remove_word(text, a, b) for text, (a, b) in items])
        tuned = np.zeros(len(items), dtype=np.float64)
        by_text: dict[str, list[int]] = {}
        for row, (text, _) in enumerate(items):
            by_text.setdefault(text, []).append(row)
        for text, rows in by_text.items():
            hidden = [self.pieces(text, *items[row][1]) for row in rows]
            tuned[rows] = self.model.masked_logits(self.states[text], hidden)[:, 0]
        return self.model.combine(lexical, tuned)
