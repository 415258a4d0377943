"""Occlusion: which words drove a score. Re-score the text with each word removed and keep
the words whose removal lowers the score most.

A span's ``weight`` is the drop in log-odds, not in probability: a comment at 0.9999 with
two slurs drops little in probability when either one is removed, but clearly in log-odds.

Spans cost one re-score per word, so they are not on the decision path: a scorer's ``score``
gives ``spans: []`` for a comment under the threshold (nothing to explain) and marks the
others pending (:func:`span_fields`); the explain job (``workers.jobs.explain_comments``)
calls the scorer's ``explain`` after the decision and writes the spans into the stored
evidence (:func:`with_spans`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

DEFAULT_EXPLAIN_THRESHOLD = 0.3
"""Only comments scoring at least this get occlusion spans (it costs one re-score per word)."""

DEFAULT_MAX_SPANS = 5
DEFAULT_MIN_DROP = 0.2
"""A word counts as a cause when removing it lowers the log-odds by at least this much."""

DEFAULT_MAX_OCCLUDED_WORDS = 80
"""Longer comments are explained on their first words only (the cost is linear in words)."""

# A word, possibly with inner apostrophes or masking characters ("f*ck", "don't").
_WORD = re.compile(r"[\w@#$*]+(?:['’*.\-][\w@#$*]+)*")


SPANS_PENDING = "spans_pending"
"""Evidence key set (True) while a comment's spans wait for the explain job."""


def span_fields(score: float, threshold: float) -> dict[str, object]:
    """The span fields of evidence at scoring time: none needed below ``threshold``, else
    pending (``spans`` is None until the explain job fills it)."""
    if score < threshold:
        return {"spans": []}
    return {"spans": None, SPANS_PENDING: True}


def spans_pending(evidence: object) -> bool:
    return isinstance(evidence, dict) and bool(evidence.get(SPANS_PENDING))


def with_spans(evidence: dict[str, Any], spans: list[dict[str, object]]) -> dict[str, Any]:
    """A copy of ``evidence`` with its spans filled in and the pending mark gone."""
    done = {key: value for key, value in evidence.items() if key != SPANS_PENDING}
    done["spans"] = spans
    return done


def word_spans(text: str, limit: int = DEFAULT_MAX_OCCLUDED_WORDS) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)][:limit]


def occlusion_spans(
    texts: Sequence[str],
    base_scores: Sequence[float],
    score_fn: Callable[[list[str]], np.ndarray],
    *,
    threshold: float = DEFAULT_EXPLAIN_THRESHOLD,
    max_spans: int = DEFAULT_MAX_SPANS,
    min_drop: float = DEFAULT_MIN_DROP,
    max_words: int = DEFAULT_MAX_OCCLUDED_WORDS,
) -> list[list[dict[str, object]]]:
    """For each text, the spans whose removal drops its score most (empty below ``threshold``).

    ``score_fn`` gets all occluded variants of all explained texts in one call, so a batch
    model runs once per batch, not once per word.
    """
    variants: list[str] = []
    owners: list[tuple[int, tuple[int, int]]] = []
    for index, (text, score) in enumerate(zip(texts, base_scores, strict=True)):
        if score < threshold:
            continue
        for start, end in word_spans(text, max_words):
            variants.append(_remove(text, start, end))
            owners.append((index, (start, end)))
    result: list[list[dict[str, object]]] = [[] for _ in texts]
    if not variants:
        return result
    occluded = _logit(np.asarray(score_fn(variants), dtype=np.float64))
    base = _logit(np.asarray(base_scores, dtype=np.float64))
    drops: dict[int, list[tuple[float, int, int]]] = {}
    for (index, (start, end)), value in zip(owners, occluded, strict=True):
        drops.setdefault(index, []).append((float(base[index] - value), start, end))
    for index, items in drops.items():
        items.sort(key=lambda item: -item[0])
        kept = [item for item in items if item[0] >= min_drop][:max_spans]
        if not kept and items and items[0][0] > 0:
            # No single word matters alone (the score needs several): name the strongest one.
            kept = items[:1]
        kept.sort(key=lambda item: item[1])
        result[index] = [
            {
                "start": start,
                "end": end,
                "text": texts[index][start:end],
                "weight": round(drop, 4),
            }
            for drop, start, end in kept
        ]
    return result


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    logits: np.ndarray = np.log(p / (1 - p))
    return logits


def _remove(text: str, start: int, end: int) -> str:
    return (text[:start].rstrip() + " " + text[end:].lstrip()).strip()
