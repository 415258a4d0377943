"""Building the active scorers from settings, once per worker process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from moderation import defaults
from moderation.exceptions import ConfigurationError
from moderation.scoring.base import (
    ArticleFeaturizer,
    ArticleInput,
    CommentInput,
    Scorer,
    ScoreResult,
)

SCORER_NAMES = ("toxicity", "relevance", "spam")


class ScorerSet:
    """The active scorers, used as one: merged results and per-article features."""

    def __init__(
        self, scorers: Sequence[Scorer], *, batch_size: int = defaults.DEFAULT_SCORING_BATCH_SIZE
    ) -> None:
        names = [scorer.name for scorer in scorers]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"scorer names must be unique, got {names}")
        self.scorers: list[Scorer] = list(scorers)
        self.batch_size = batch_size
        labels: list[str] = []
        for scorer in self.scorers:
            labels.extend(label for label in scorer.labels if label not in labels)
        self.labels: tuple[str, ...] = tuple(labels)
        self.featurizer_names: tuple[str, ...] = tuple(
            scorer.name for scorer in self.scorers if isinstance(scorer, ArticleFeaturizer)
        )

    def __repr__(self) -> str:
        return f"ScorerSet(labels={self.labels!r})"

    def get(self, name: str) -> Scorer:
        for scorer in self.scorers:
            if scorer.name == name:
                return scorer
        raise KeyError(name)

    def score(self, comments: Sequence[CommentInput]) -> list[ScoreResult]:
        """One result per comment, every scorer's scores merged; at most ``batch_size``
        comments go to a scorer at a time."""
        results: list[ScoreResult] = []
        for start in range(0, len(comments), self.batch_size):
            chunk = comments[start : start + self.batch_size]
            merged = [ScoreResult() for _ in chunk]
            for scorer in self.scorers:
                partial = scorer.score(chunk)
                if len(partial) != len(chunk):
                    raise RuntimeError(
                        f"scorer {scorer.name!r} returned {len(partial)} results "
                        f"for {len(chunk)} comments"
                    )
                for target, result in zip(merged, partial, strict=True):
                    target.merge(result)
            results.extend(merged)
        return results

    def article_features(self, article: ArticleInput) -> dict[str, bytes]:
        """Scorer name -> features worth storing once per article version."""
        return {
            scorer.name: scorer.article_features(article)
            for scorer in self.scorers
            if isinstance(scorer, ArticleFeaturizer)
        }


def build_scorers(settings: Any, *, redis: Any | None) -> ScorerSet:
    """The scorers named in ``settings.scorer_names``, each model loaded once.

    Call once per worker process: a model load takes seconds. ``redis`` is the client that
    duplicate tracking writes to (None disables it, e.g. for offline evaluation).
    """
    from moderation.scoring._embedding import DEFAULT_EMBEDDING_BATCH_SIZE, Embedder

    names = list(settings.scorer_names)
    unknown = [name for name in names if name not in SCORER_NAMES]
    if unknown:
        raise ConfigurationError(
            f"Setting MODERATION_SCORERS has value {settings.scorers!r}: unknown scorer "
            f"{', '.join(repr(u) for u in unknown)}; expected names from {', '.join(SCORER_NAMES)}."
        )
    backend = settings.toxicity_backend.strip()
    embedder: Embedder | None = None

    def shared_embedder() -> Embedder:
        nonlocal embedder
        if embedder is None:
            # One forward pass per scoring batch.
            batch = max(DEFAULT_EMBEDDING_BATCH_SIZE, settings.scoring_batch_size)
            embedder = Embedder(device=settings.device, batch_size=batch)
        return embedder

    scorers: list[Scorer] = []
    for name in names:
        if name == "toxicity":
            if backend == "offline":
                from moderation.scoring.lexical import OfflineToxicityScorer
                from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH

                needs_embedder = DEFAULT_MODEL_PATH.exists()
                scorers.append(
                    OfflineToxicityScorer.from_files(
                        embedder=shared_embedder() if needs_embedder else None
                    )
                )
            else:
                from moderation.scoring.detoxify import DetoxifyScorer

                scorers.append(DetoxifyScorer.from_settings(settings))
        elif name == "relevance":
            from moderation.scoring.relevance import RelevanceScorer

            scorers.append(RelevanceScorer(embedder=shared_embedder()))
        elif name == "spam":
            from moderation.scoring.spam import SpamScorer

            scorers.append(SpamScorer(redis=redis))
    return ScorerSet(scorers, batch_size=settings.scoring_batch_size)


def expected_labels(settings: Any) -> tuple[str, ...] | None:
    """The score names ``build_scorers`` will produce, without loading any model; None when
    only the loaded model can tell (a local Detoxify checkpoint's labels are in the file)."""
    labels: list[str] = []
    backend = settings.toxicity_backend.strip()
    for name in settings.scorer_names:
        if name not in SCORER_NAMES:
            return None
        if name == "toxicity" and backend != "offline":
            from moderation.scoring.detoxify import RELEASED_LABELS, parse_backend

            if settings.detoxify_checkpoint is not None:
                return None
            labels.extend(RELEASED_LABELS[parse_backend(backend)])
        else:
            labels.append(name)
    return tuple(labels)
