"""Which language a comment is in: py3langid (its model ships inside the package; nothing is
downloaded), and the tags clients send (ISO 639-1 or BCP-47: ``en``, ``en-US``, ``pt_BR``).

Build one :class:`LanguageDetector` per process (loading the model takes about a second).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEFAULT_MIN_CONFIDENCE = 0.5
"""Below this probability the detector's guess is not reported: a comment such as "ok", "+1"
or a row of emoji carries too few letters to tell. Such a comment is answered in the
backend's first language (English) rather than refused: Perspective's clients score short
replies all the time, and a refusal would leave them unscored."""

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def primary_language(tag: str) -> str:
    """``en-US`` -> ``en``; ``pt_BR`` -> ``pt`` (what the supported-language lists hold)."""
    return re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()


def valid_tag(tag: str) -> bool:
    return bool(_TAG.match(tag.strip()))


@dataclass(frozen=True)
class Detection:
    language: str | None
    """The detected ISO 639-1 code, or None when the detector was not confident."""
    confidence: float


class LanguageDetector:
    def __init__(self, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.min_confidence = min_confidence
        self._identifier: Any = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def detect(self, text: str) -> Detection:
        language, confidence = self._identifier.classify(text)
        confidence = float(confidence)
        if confidence < self.min_confidence:
            return Detection(None, confidence)
        return Detection(str(language), confidence)
