"""Property tests: every scorer turns any text (see tests/hostile_text.py) into one result
per comment, each score a finite number in [0, 1] and the evidence plain JSON, never an
exception. Model-backed scorers get few random examples and every fixed extreme."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
import redis as redis_lib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moderation.scoring import ArticleInput
from moderation.scoring.lexical import OfflineToxicityScorer
from moderation.scoring.relevance import RelevanceScorer
from moderation.scoring.spam import SpamScorer
from tests.conftest import TEST_REDIS_URL
from tests.hostile_text import EXTREMES, hostile_text
from tests.scoring.conftest import comment

MODEL_EXAMPLES = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
CHEAP_EXAMPLES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
HOSTILE_ARTICLE = ArticleInput(
    id="hostile",
    title="<script>alert(1)</script>\u202e\u200b🇺🇦",
    body="\u200d" * 50 + " idiot " + "🤬" * 200,
)


@pytest.fixture(scope="module")
def redis_db() -> Iterator[redis_lib.Redis]:
    conn = redis_lib.Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture(scope="module")
def scorers(redis_db, embedder) -> dict[str, object]:
    return {
        "spam": SpamScorer(redis=redis_db),
        "lexical": OfflineToxicityScorer(embedder=None),
        "offline": OfflineToxicityScorer.from_files(embedder=embedder),
        "relevance": RelevanceScorer(embedder=embedder),
    }


def check_scores(scorer, texts: list[str], *, article: ArticleInput | None = None) -> None:
    extra = {} if article is None else {"article": article}
    batch = [
        comment(text, ident=f"c{i}", parent=texts[i - 1] if i % 2 else None, **extra)
        for i, text in enumerate(texts)
    ]
    results = scorer.score(batch)
    assert len(results) == len(batch)
    for result in results:
        assert set(result.scores) == set(scorer.labels)
        for name, value in result.scores.items():
            assert isinstance(value, float) and math.isfinite(value), (name, value)
            assert 0.0 <= value <= 1.0, (name, value)
        json.dumps(result.evidence, allow_nan=False)


@pytest.mark.parametrize("kind", ["spam", "lexical"])
def test_cheap_scorers_score_any_text(scorers, kind):
    scorer = scorers[kind]

    @given(st.lists(hostile_text(), min_size=1, max_size=4))
    @CHEAP_EXAMPLES
    def score(texts):
        check_scores(scorer, texts)

    score()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["offline", "relevance"])
def test_model_scorers_score_any_text(scorers, kind):
    scorer = scorers[kind]

    @given(st.lists(hostile_text(max_size=60), min_size=1, max_size=3))
    @MODEL_EXAMPLES
    def score(texts):
        check_scores(scorer, texts)

    score()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["spam", "lexical", "offline", "relevance"])
def test_every_scorer_scores_the_extremes_in_one_batch(scorers, kind):
    if kind == "offline":
        assert scorers[kind].model is not None  # the shipped tuned model, not the lexical one
    names = sorted(EXTREMES)
    check_scores(scorers[kind], [EXTREMES[name] for name in names])
    check_scores(scorers[kind], ["a comment", EXTREMES["emoji only"]], article=HOSTILE_ARTICLE)
