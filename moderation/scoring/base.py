"""What every scorer takes and gives.

A scorer turns a batch of comments (each with its article and, for replies, its parent)
into named scores in [0, 1], plus the evidence a moderator needs to see why.
Scorers are built once per worker process (``moderation.scoring.build_scorers``) and
reused for every job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ArticleInput:
    id: str
    title: str
    body: str
    section: str | None = None
    tags: tuple[str, ...] = ()
    content_hash: str = ""
    # Per-scorer features computed once per article version and stored by the caller
    # (for example the relevance scorer's embeddings). Keyed by scorer name.
    features: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class CommentInput:
    id: str
    text: str
    author_id: str
    article: ArticleInput
    parent_text: str | None = None


@dataclass
class ScoreResult:
    """Scores for one comment. ``evidence[name]`` explains ``scores[name]`` (JSON-able)."""

    scores: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: ScoreResult) -> None:
        self.scores.update(other.scores)
        self.evidence.update(other.evidence)


@runtime_checkable
class Scorer(Protocol):
    name: str
    labels: tuple[str, ...]
    """Score names this scorer produces (what rules files may refer to)."""

    def score(self, comments: Sequence[CommentInput]) -> list[ScoreResult]: ...


@runtime_checkable
class Explainer(Protocol):
    """A scorer whose costly evidence, the ``spans`` behind its score, is computed after the
    decision: its ``score`` marks them pending, the explain job calls ``explain``."""

    name: str

    def explain(
        self, texts: Sequence[str], scores: Sequence[float]
    ) -> list[list[dict[str, object]]]: ...


@runtime_checkable
class ArticleFeaturizer(Protocol):
    """A scorer with per-article work worth doing once (and storing) per article version."""

    name: str

    def article_features(self, article: ArticleInput) -> bytes: ...
