"""Building the active scorers from settings, once per worker process."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moderation import defaults, metrics
from moderation.exceptions import ConfigurationError
from moderation.scoring._memory import fix_mmap_threshold
from moderation.scoring.base import (
    ArticleFeaturizer,
    ArticleInput,
    CommentInput,
    Explainer,
    Scorer,
    ScoreResult,
)

if TYPE_CHECKING:  # imported when first used: it loads torch
    from moderation.scoring._embedding import Embedder

log = logging.getLogger(__name__)


def set_torch_threads(threads: int, *, owner: str) -> None:
    """Run torch on ``threads`` threads in this process (0: leave torch's default, one per
    core), when a scorer loaded it (spam alone needs none). Processes that share a machine's
    cores (scoring workers, the API's Perspective analyzer) each take their part, instead of
    a pool per core each that loses its steps to the others."""
    torch = sys.modules.get("torch")
    if torch is not None and threads > 0:
        torch.set_num_threads(threads)
        log.info("%s: torch uses %d thread(s) (pid %d)", owner, threads, os.getpid())


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
        self.explainer_names: tuple[str, ...] = tuple(
            scorer.name for scorer in self.scorers if isinstance(scorer, Explainer)
        )

    def __repr__(self) -> str:
        return f"ScorerSet(labels={self.labels!r})"

    def get(self, name: str) -> Scorer:
        for scorer in self.scorers:
            if scorer.name == name:
                return scorer
        raise KeyError(name)

    def score(
        self, comments: Sequence[CommentInput], *, has_article: Sequence[bool] | None = None
    ) -> list[ScoreResult]:
        """One result per comment (in order), every scorer's scores merged; at most
        ``batch_size`` comments go to a scorer at a time, shortest first, so that a batch
        pads little (a batch is as slow as its longest comment).

        ``has_article[i]`` False: comment ``i`` has nothing to be compared with (a
        Perspective request without context), so the scorers that compare a comment with
        its article (:class:`ArticleFeaturizer`, i.e. relevance) leave it out."""
        order = sorted(range(len(comments)), key=lambda i: len(comments[i].text))
        results: list[ScoreResult] = [ScoreResult() for _ in comments]
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            for scorer in self.scorers:
                taken = index
                if has_article is not None and isinstance(scorer, ArticleFeaturizer):
                    taken = [i for i in index if has_article[i]]
                    if not taken:
                        continue
                chunk = [comments[i] for i in taken]
                started = time.perf_counter()
                partial = scorer.score(chunk)
                metrics.observe(
                    metrics.SCORER_DURATION, time.perf_counter() - started, scorer=scorer.name
                )
                metrics.observe(metrics.SCORER_BATCH, len(chunk), scorer=scorer.name)
                if len(partial) != len(chunk):
                    raise RuntimeError(
                        f"scorer {scorer.name!r} returned {len(partial)} results "
                        f"for {len(chunk)} comments"
                    )
                for i, result in zip(taken, partial, strict=True):
                    results[i].merge(result)
        return results

    def explain(
        self, name: str, texts: Sequence[str], scores: Sequence[float]
    ) -> list[list[dict[str, object]]]:
        """The spans behind scorer ``name``'s stored scores, ``batch_size`` texts at a time
        (what ``score`` left pending; run after the decision)."""
        scorer = self.get(name)
        if not isinstance(scorer, Explainer):
            raise KeyError(f"scorer {name!r} gives no spans")
        spans: list[list[dict[str, object]]] = []
        for start in range(0, len(texts), self.batch_size):
            stop = start + self.batch_size
            spans.extend(scorer.explain(texts[start:stop], scores[start:stop]))
        return spans

    def article_features(self, article: ArticleInput) -> dict[str, bytes]:
        """Scorer name -> features worth storing once per article version."""
        return {
            scorer.name: scorer.article_features(article)
            for scorer in self.scorers
            if isinstance(scorer, ArticleFeaturizer)
        }


class _Shared:
    """What the scorers of one process share: one MiniLM load, the Redis client."""

    def __init__(self, settings: Any, redis: Any | None) -> None:
        self.settings = settings
        self.redis = redis
        self._embedder: Embedder | None = None

    @property
    def embedder(self) -> Embedder:
        from moderation.scoring._embedding import DEFAULT_EMBEDDING_BATCH_SIZE, Embedder

        if self._embedder is None:
            # One forward pass per scoring batch.
            batch = max(DEFAULT_EMBEDDING_BATCH_SIZE, self.settings.scoring_batch_size)
            self._embedder = Embedder(device=self.settings.device, batch_size=batch)
        return self._embedder


@dataclass(frozen=True)
class ScorerKind:
    """One entry of :data:`SCORER_KINDS`: how a scorer is built, and which score names it
    will produce, known without loading a model (None: only the loaded model can tell)."""

    name: str
    build: Callable[[_Shared], Scorer]
    labels: Callable[[Any], tuple[str, ...] | None]


def _toxicity(shared: _Shared) -> Scorer:
    if shared.settings.toxicity_backend.strip() == "offline":
        from moderation.scoring.lexical import OfflineToxicityScorer
        from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH

        # Without the tuned layer's file, alt-profanity-check decides alone: no MiniLM.
        embedder = shared.embedder if DEFAULT_MODEL_PATH.exists() else None
        return OfflineToxicityScorer.from_files(embedder=embedder)
    from moderation.scoring.detoxify import DetoxifyScorer

    return DetoxifyScorer.from_settings(shared.settings)


def _toxicity_labels(settings: Any) -> tuple[str, ...] | None:
    backend = settings.toxicity_backend.strip()
    if backend == "offline":
        from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH, model_labels

        return model_labels(DEFAULT_MODEL_PATH)
    from moderation.scoring.detoxify import RELEASED_LABELS, parse_backend

    if settings.detoxify_checkpoint is not None:
        return None  # a local checkpoint's labels are in the file
    return tuple(RELEASED_LABELS[parse_backend(backend)])


def _relevance(shared: _Shared) -> Scorer:
    from moderation.scoring.relevance import RelevanceScorer

    return RelevanceScorer(embedder=shared.embedder)


def _spam(shared: _Shared) -> Scorer:
    from moderation.scoring.spam import SpamScorer

    return SpamScorer(redis=shared.redis)


SCORER_KINDS: dict[str, ScorerKind] = {
    kind.name: kind
    for kind in (
        ScorerKind("toxicity", _toxicity, _toxicity_labels),
        ScorerKind("relevance", _relevance, lambda _settings: ("relevance",)),
        ScorerKind("spam", _spam, lambda _settings: ("spam",)),
    )
}
"""Every scorer a settings file may name, in ``MODERATION_SCORERS``: adding a scorer is one
entry here (its module imported inside ``build``, so unused models cost nothing)."""

SCORER_NAMES = tuple(SCORER_KINDS)


def build_scorers(settings: Any, *, redis: Any | None) -> ScorerSet:
    """The scorers named in ``settings.scorer_names``, each model loaded once.

    Call once per worker process: a model load takes seconds. ``redis`` is the client that
    duplicate tracking writes to (None disables it, e.g. for offline evaluation).
    """
    names = list(settings.scorer_names)
    unknown = [name for name in names if name not in SCORER_KINDS]
    if unknown:
        raise ConfigurationError(
            f"Setting MODERATION_SCORERS has value {settings.scorers!r}: unknown scorer "
            f"{', '.join(repr(u) for u in unknown)}; expected names from {', '.join(SCORER_NAMES)}."
        )
    fix_mmap_threshold()  # before the models allocate: see moderation/scoring/_memory.py
    shared = _Shared(settings, redis)
    scorers = [SCORER_KINDS[name].build(shared) for name in names]
    return ScorerSet(scorers, batch_size=settings.scoring_batch_size)


def expected_labels(settings: Any) -> tuple[str, ...] | None:
    """The score names ``build_scorers`` will produce, without loading any model; None when
    only the loaded model can tell (a local Detoxify checkpoint's labels are in the file)."""
    labels: list[str] = []
    for name in settings.scorer_names:
        kind = SCORER_KINDS.get(name)
        produced = kind.labels(settings) if kind is not None else None
        if produced is None:
            return None
        labels.extend(produced)
    return tuple(labels)
