"""The AnalyzeComment answer: each requested attribute's value from the scores, thresholds
applied, spans in the client's UTF-16 offsets.

Like Google's JSON printer (proto3), empty lists and absent messages are left out: an
attribute under its ``scoreThreshold`` comes back as ``{}`` (no ``summaryScore``; with
``spanAnnotations``, only the spans at or above the threshold), and ``detectedLanguages`` is
left out when the client gave ``languages`` or the detector could not tell.
"""

from __future__ import annotations

from moderation.perspective.analyzer import Outcome
from moderation.perspective.attributes import Inputs, count_words
from moderation.perspective.offsets import Utf16Offsets
from moderation.perspective.request import Plan
from moderation.perspective.wire import (
    AnalyzeCommentResponse,
    AttributeScoresOut,
    ScoreOut,
    SpanScoreOut,
)

DIGITS = 7
"""Decimal places of a returned score (Perspective's floats carry about as many)."""


def attribute_values(plan: Plan, outcome: Outcome) -> dict[str, float]:
    """Requested name -> value on the client's scale, before thresholds."""
    inputs = Inputs(
        scores=outcome.client_scores,
        words=count_words(plan.text),
        decision=outcome.decision,
    )
    return {item.key: round(item.attribute.value(inputs), DIGITS) for item in plan.attributes}


def analyze_response(plan: Plan, outcome: Outcome) -> AnalyzeCommentResponse:
    values = attribute_values(plan, outcome)
    offsets = Utf16Offsets(plan.original)
    scores: dict[str, AttributeScoresOut] = {}
    for item in plan.attributes:
        value = values[item.key]
        threshold = item.threshold
        summary = ScoreOut(value=value) if threshold is None or value >= threshold else None
        spans = None
        if plan.spans and item.attribute.spans:
            spans = [
                SpanScoreOut(begin=begin, end=end, score=ScoreOut(value=round(score, DIGITS)))
                for begin, end, score in _client_spans(plan, outcome, offsets)
                if threshold is None or score >= threshold
            ] or None
        scores[item.key] = AttributeScoresOut(summary_score=summary, span_scores=spans)
    return AnalyzeCommentResponse(
        attribute_scores=scores,
        languages=list(plan.languages),
        detected_languages=list(plan.detected) if plan.detected else None,
        client_token=plan.client_token,
    )


def _client_spans(
    plan: Plan, outcome: Outcome, offsets: Utf16Offsets
) -> list[tuple[int, int, float]]:
    """The outcome's spans (code points of the scored text) in UTF-16 units of the text the
    client sent (for HTML: of the markup, around the words it shows)."""
    out = []
    for start, end, score in outcome.spans:
        begin, stop = plan.source.source_span(start, end)
        out.append((offsets(begin), offsets(stop), score))
    return out
