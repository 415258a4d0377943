from __future__ import annotations

import pytest

from moderation.perspective.languages import LanguageDetector, primary_language, valid_tag


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("This is the dumbest take I have read all week.", "en"),
        ("Das ist ein dummer Kommentar", "de"),
        ("Você é um idiota", "pt"),
        ("ok", None),  # too little to tell
        ("😀😀", None),
    ],
)
def test_detects_with_the_bundled_model(detector: LanguageDetector, text: str, language):
    assert detector.detect(text).language == language


def test_tags_reduce_to_their_language():
    assert [primary_language(t) for t in ("en", "en-US", "pt_BR", "ZH-Hant")] == [
        "en",
        "en",
        "pt",
        "zh",
    ]
    assert valid_tag("en-US") and not valid_tag("e") and not valid_tag("en US")
