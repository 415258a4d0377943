"""Scoring: comments in, named scores in [0, 1] with evidence out.

Build the active scorers once per worker process with :func:`build_scorers` and reuse the
returned :class:`ScorerSet` for every job::

    scorers = build_scorers(get_settings(), redis=redis_client)
    blob_by_name = scorers.article_features(article)   # store per article version
    results = scorers.score(comments)                  # list[ScoreResult], same order
    spans = scorers.explain("toxicity", texts, values) # after the decision (spans pending)

Scorers: ``toxicity`` (offline model, or Detoxify per ``MODERATION_TOXICITY_BACKEND``),
``relevance`` (on-topic for the article or the parent comment) and ``spam``.
"""

from moderation.scoring._explain import spans_pending
from moderation.scoring._registry import (
    SCORER_NAMES,
    ScorerSet,
    build_scorers,
    expected_labels,
    set_torch_threads,
)
from moderation.scoring.base import (
    ArticleFeaturizer,
    ArticleInput,
    CommentInput,
    Explainer,
    Scorer,
    ScoreResult,
)

__all__ = [
    "SCORER_NAMES",
    "ArticleFeaturizer",
    "ArticleInput",
    "CommentInput",
    "Explainer",
    "ScoreResult",
    "Scorer",
    "ScorerSet",
    "build_scorers",
    "expected_labels",
    "set_torch_threads",
    "spans_pending",
]
