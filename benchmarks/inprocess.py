"""Between the raw limit and the pipeline: the scorers alone, in this process, on the same
comments (``ScorerSet.score`` in jobs of 64, as a worker calls it), with nothing else
running. Pipeline ÷ scorers is what the service around the models costs (HTTP, the
database, Redis, RQ and the cores they share); scorers ÷ raw is what the scorers do besides
the one MiniLM pass (the tuned layer, the lexical model, relevance, spam).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from benchmarks.corpus import Article, Comment

JOB_SIZE = 64


@dataclass
class ScorerRate:
    comments: int
    seconds: float
    comments_per_s: float
    cores_used: float
    load_seconds: float


def scorer_rate(comments: Sequence[Comment], articles: Sequence[Article]) -> ScorerRate:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from moderation.scoring import ArticleInput, CommentInput, build_scorers
    from moderation.settings import Settings

    start = time.perf_counter()
    scorers = build_scorers(Settings(_env_file=None), redis=None)
    load_s = time.perf_counter() - start
    by_id = {a.id: a for a in articles}
    inputs: dict[str, ArticleInput] = {}
    for c in comments:  # each article's features once, as the database keeps them
        if c.article_id not in inputs:
            a = by_id[c.article_id]
            base = ArticleInput(id=a.id, title=a.title, body=a.body)
            inputs[a.id] = replace(base, features=scorers.article_features(base))

    def job(batch: Sequence[Comment], tag: str = "") -> list[CommentInput]:
        return [
            CommentInput(
                id=c.id, text=c.text + tag, author_id=c.author_id, article=inputs[c.article_id]
            )
            for c in batch
        ]

    scorers.score(job(comments[:JOB_SIZE], " ."))  # the first pass pays for allocation
    begin, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(comments), JOB_SIZE):
        scorers.score(job(comments[i : i + JOB_SIZE]))
    seconds = time.perf_counter() - begin
    return ScorerRate(
        comments=len(comments),
        seconds=round(seconds, 3),
        comments_per_s=round(len(comments) / seconds, 2),
        cores_used=round((time.process_time() - cpu) / seconds, 3),
        load_seconds=round(load_s, 2),
    )
