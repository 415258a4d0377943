"""Scoring fixtures: real models, each loaded once per test session."""

from __future__ import annotations

import pytest

from moderation.scoring import ArticleInput, CommentInput
from tests.fixtures.tiny_detoxify import TinyDetoxify, build_tiny_detoxify


@pytest.fixture(scope="session")
def embedder():
    from moderation.scoring._embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> TinyDetoxify:
    return build_tiny_detoxify(tmp_path_factory.mktemp("tiny-detoxify"))


@pytest.fixture(scope="session")
def tiny_detoxify_original(tmp_path_factory: pytest.TempPathFactory) -> TinyDetoxify:
    from tests.fixtures.tiny_detoxify import ORIGINAL_CLASSES

    return build_tiny_detoxify(
        tmp_path_factory.mktemp("tiny-detoxify-original"), classes=ORIGINAL_CLASSES
    )


# Our own demo article (not the sample page's text): an arms deal between two countries.
HELICOPTER_ARTICLE = ArticleInput(
    id="helicopters",
    title="Islamabad courts Moscow for attack helicopters as Washington leans toward Delhi",
    body=(
        "Pakistan is in talks to buy several dozen Russian Mi-35 attack helicopters, defence "
        "officials said on Tuesday, as the country looks beyond its old Western suppliers. "
        "Russia's defence minister signed a military cooperation pact during a visit to "
        "Islamabad in the autumn. Analysts doubt Moscow will risk its long friendship with "
        "India, still its biggest arms buyer, but the Kremlin is hunting for new markets for "
        "its weapons industry. Officials in Islamabad say they also want Russian help with "
        "gas pipelines and power plants. China remains Pakistan's main source of fighter jets, "
        "tanks and frigates, having sold it billions of dollars of equipment in the past decade."
    ),
)


def comment(
    text: str,
    *,
    ident: str = "c1",
    author: str = "reader-1",
    article: ArticleInput = HELICOPTER_ARTICLE,
    parent: str | None = None,
) -> CommentInput:
    return CommentInput(id=ident, text=text, author_id=author, article=article, parent_text=parent)
