"""Occlusion: which words drove a score. Re-score the text with each word removed and keep
the words whose removal lowers the score most.

A span's ``weight`` is the drop in log-odds, not in probability: a comment at 0.9999 with
two slurs drops little in probability when either one is removed, but clearly in log-odds.

Spans cost one re-score per word, so they are not on the decision path: a scorer's ``score``
gives ``spans: []`` for a comment under the threshold (nothing to explain) and marks the
others pending (:func:`span_fields`); the explain job (``workers.jobs.explain_comments``)
calls the scorer's ``explain`` after the decision and writes the spans into the stored
evidence (:func:`with_spans`).

A scorer that can estimate each word's effect cheaply (the offline scorer: its lexical
model's own occlusion plus gradient x input of the tuned MiniLM layer, one backward pass)
passes ``shortlist``: then only the ``shortlist_size`` words it ranks highest are re-scored,
so a long comment costs about a dozen re-scores instead of 80. The spans' weights are still
measured drops, only fewer words are tried.
"""

from __future__ import annotations

import bisect
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

DEFAULT_SHORTLIST_SIZE = 12
"""With a ``shortlist``, the words re-scored per text (more than twice ``DEFAULT_MAX_SPANS``,
so a word the estimate ranks a little low is still measured)."""

Shortlist = Callable[[Sequence[str], Sequence[Sequence[tuple[int, int]]]], list[np.ndarray]]
"""(texts, each text's word spans) -> per text, an estimated log-odds drop per word."""

VariantScores = Callable[[Sequence[tuple[str, tuple[int, int]]]], np.ndarray]
"""(text, word span) pairs -> the score of each text without that word (instead of
re-scoring ``remove_word`` texts with ``score_fn``)."""

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
    shortlist: Shortlist | None = None,
    shortlist_size: int = DEFAULT_SHORTLIST_SIZE,
    variant_scores: VariantScores | None = None,
) -> list[list[dict[str, object]]]:
    """For each text, the spans whose removal drops its score most (empty below ``threshold``).

    ``score_fn`` gets all occluded variants of all explained texts in one call, so a batch
    model runs once per batch, not once per word. With ``shortlist``, a text of more than
    ``shortlist_size`` words has only the words it ranks highest re-scored; with
    ``variant_scores``, the variants are scored by it instead of ``score_fn``.
    """
    explained = [i for i, score in enumerate(base_scores) if score >= threshold]
    words = {i: word_spans(texts[i], max_words) for i in explained}
    long = [i for i in explained if len(words[i]) > shortlist_size]
    if shortlist is not None and long:
        estimates = shortlist([texts[i] for i in long], [words[i] for i in long])
        for i, estimate in zip(long, estimates, strict=True):
            best = np.argsort(-np.asarray(estimate, dtype=np.float64), kind="stable")
            words[i] = sorted(words[i][j] for j in best[:shortlist_size])
    owners = [(index, span) for index in explained for span in words[index]]
    result: list[list[dict[str, object]]] = [[] for _ in texts]
    if not owners:
        return result
    if variant_scores is not None:
        scored = variant_scores([(texts[index], span) for index, span in owners])
    else:
        scored = score_fn([remove_word(texts[index], *span) for index, span in owners])
    occluded = _logit(np.asarray(scored, dtype=np.float64))
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


def word_sums(
    spans: Sequence[tuple[int, int]], offsets: Sequence[tuple[int, int]], values: np.ndarray
) -> np.ndarray:
    """Per word of ``spans``, the sum of ``values`` of the tokens (character ``offsets``)
    that start inside it; tokens between words (punctuation, padding) count for none."""
    starts = [start for start, _ in spans]
    sums = np.zeros(len(spans), dtype=np.float64)
    for (start, end), value in zip(offsets, values, strict=True):
        if end <= start:
            continue  # [CLS], [SEP], padding
        j = bisect.bisect_right(starts, start) - 1
        if j >= 0 and start < spans[j][1]:
            sums[j] += float(value)
    return sums


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    logits: np.ndarray = np.log(p / (1 - p))
    return logits


def remove_word(text: str, start: int, end: int) -> str:
    """``text`` without the word at ``start:end`` (one space where it was)."""
    return (text[:start].rstrip() + " " + text[end:].lstrip()).strip()
