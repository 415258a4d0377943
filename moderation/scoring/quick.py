"""Score one text outside a worker (``moderation rules test`` and other command-line use)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from moderation.scoring._registry import build_scorers
from moderation.scoring.base import ArticleInput, CommentInput

_ids = itertools.count(1)


def score_fn_from_settings(
    settings: Any, *, redis: Any | None = None
) -> Callable[..., dict[str, float]]:
    """A function ``(text, article_title="", article_body="", parent_text=None) ->
    {score name: value}`` over the scorers the settings name (``moderation.policy.testing``'s
    ``ScoreFn``).

    The models load once, here. Without ``redis``, duplicates are not tracked."""
    scorers = build_scorers(settings, redis=redis)

    def score(
        text: str,
        article_title: str = "",
        article_body: str = "",
        parent_text: str | None = None,
        *,
        author_id: str = "cli",
        article: ArticleInput | None = None,
        **_: Any,
    ) -> dict[str, float]:
        article = article or ArticleInput(id="cli-article", title=article_title, body=article_body)
        comment = CommentInput(
            id=f"cli-{next(_ids)}",
            text=text,
            author_id=author_id,
            article=article,
            parent_text=parent_text,
        )
        return scorers.score([comment])[0].scores

    score.labels = scorers.labels  # type: ignore[attr-defined]
    return score
