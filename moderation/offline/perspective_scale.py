"""Fit the shipped offline model's map to Perspective's levels
(``moderation train --shared DATA --perspective-scale``).

The comments are the Perspective source of ``../shared/data`` (Wikipedia talk comments with
Perspective's own scores): each label's map is fitted on the training part (the four fifths
the model was trained on), and judged on the fifth held out from both, where the report
gives, per label, the mean distance to Perspective's score and the share of comments at 0.5
and 0.8 or more by Perspective, by the model's scores and by the mapped ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation.exceptions import ConfigurationError
from moderation.offline.sources import PERSPECTIVE_COLUMNS, LabelledText, perspective
from moderation.perspective.scale import (
    DEFAULT_KNOTS,
    ScoreMap,
    file_sha256,
    fit_map,
    scale_document,
)

ANSWERED_AS = {
    "toxicity": "TOXICITY@6",
    "severe_toxicity": "SEVERE_TOXICITY@2",
    "obscene": "PROFANITY",
    "threat": "THREAT",
    "insult": "INSULT",
    "identity_attack": "IDENTITY_ATTACK",
    "sexual_explicit": "SEXUALLY_EXPLICIT",
}
"""Each label's column of Perspective's scores: the attribute the Perspective API answers it
as (``moderation/perspective/attributes.yaml``: ``obscene`` is ``PROFANITY``), in the
sample's latest version (``TOXICITY@6``, ``SEVERE_TOXICITY@2``). Training reads ``obscene``
from ``OBSCENE`` instead (``PERSPECTIVE_COLUMNS``)."""

THRESHOLDS = (0.5, 0.8)
"""Where the report compares shares flagged (Coral's default threshold is 0.8)."""

Scores = Callable[[Sequence[str]], list[dict[str, float]]]
"""texts -> each text's scores by label (the scorer the map is for)."""


def fit_scale(
    train: Sequence[LabelledText],
    test: Sequence[LabelledText],
    score: Scores,
    labels: Sequence[str],
    *,
    knots: int = DEFAULT_KNOTS,
) -> tuple[dict[str, tuple[str, ScoreMap]], list[dict[str, Any]]]:
    """Per label that both the scorer and Perspective have: the map fitted on ``train``
    and the report row on ``test``."""
    wanted = [label for label in labels if label in ANSWERED_AS]
    if not wanted:
        raise ConfigurationError(
            f"The scorer's labels ({', '.join(labels)}) include none of Perspective's "
            f"({', '.join(ANSWERED_AS)})."
        )
    ours_train = score([e.text for e in train])
    ours_test = score([e.text for e in test])
    maps: dict[str, tuple[str, ScoreMap]] = {}
    report: list[dict[str, Any]] = []
    for label in wanted:
        fitted = fit_map(
            [s[label] for s in ours_train], [e.labels[label] for e in train], knots=knots
        )
        maps[label] = (ANSWERED_AS[label], fitted)
        theirs = np.array([e.labels[label] for e in test])
        model = np.array([s[label] for s in ours_test])
        mapped = np.array([fitted(v) for v in model])
        row: dict[str, Any] = {
            "label": label,
            "attribute": ANSWERED_AS[label],
            "comments": len(test),
            "mean_distance": {
                "model": round(float(np.abs(model - theirs).mean()), 3),
                "mapped": round(float(np.abs(mapped - theirs).mean()), 3),
            },
        }
        for threshold in THRESHOLDS:
            row[f"share_at_{threshold:g}"] = {
                "perspective": round(float((theirs >= threshold).mean()), 3),
                "model": round(float((model >= threshold).mean()), 3),
                "mapped": round(float((mapped >= threshold).mean()), 3),
            }
        report.append(row)
    return maps, report


def format_report(report: Sequence[dict[str, Any]]) -> str:
    """The report as a Markdown table (what docs/perspective.md shows)."""
    head = (
        "| label (Perspective attribute) | mean distance: model → mapped "
        + "".join(f"| ≥ {t:g}: Perspective / model / mapped " for t in THRESHOLDS)
        + "|"
    )
    lines = [head, "|---|---|" + "---|" * len(THRESHOLDS)]
    for row in report:
        cells = [
            f"{row['label']} ({row['attribute']})",
            f"{row['mean_distance']['model']:.3f} → {row['mean_distance']['mapped']:.3f}",
        ]
        for t in THRESHOLDS:
            share = row[f"share_at_{t:g}"]
            cells.append(
                f"{share['perspective']:.3f} / {share['model']:.3f} / {share['mapped']:.3f}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_perspective_scale(args: argparse.Namespace, data_dir: Path) -> int:
    """``moderation train --shared DATA --perspective-scale``: fit, report, write."""
    from moderation.offline.source_eval import held_out_part, score_texts, training_part
    from moderation.scoring._embedding import Embedder
    from moderation.scoring.lexical import OfflineToxicityScorer
    from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH, DEFAULT_SCALE_PATH

    examples = perspective(data_dir, ANSWERED_AS)
    if len(examples) != len(perspective(data_dir, PERSPECTIVE_COLUMNS)):
        raise ConfigurationError(
            "Perspective's scores file has rows that training reads and the map cannot (or "
            "the other way): the held-out fifth would not be training's."
        )
    if not examples:
        raise ConfigurationError(
            f"Option --shared has value {str(data_dir)!r}: it holds no "
            "hate/perspective_scores_wikipedia_1k.csv (Perspective's own scores) to fit on."
        )
    scorer = OfflineToxicityScorer.from_files(embedder=Embedder())
    if scorer.model is None:
        raise ConfigurationError(f"No offline model at {DEFAULT_MODEL_PATH} to fit the map for.")

    def score(texts: Sequence[str]) -> list[dict[str, float]]:
        return [dict(row["scores"]) for row in score_texts(scorer, texts)]

    train = training_part(examples)
    test = held_out_part("perspective", examples)
    maps, report = fit_scale(train, test, score, scorer.labels)
    out = Path(args.out) if args.out else DEFAULT_SCALE_PATH
    out.write_text(
        scale_document(
            maps,
            model_sha256=file_sha256(DEFAULT_MODEL_PATH),
            fitted_on=f"Perspective's scores of {len(train)} Wikipedia talk comments "
            "(perspective_scores_wikipedia_1k.csv, the training part)",
            command="moderation train --shared DATA_DIR --perspective-scale",
            held_out=report,
        ),
        encoding="utf-8",
    )
    print(format_report(report))
    print(f"wrote {out} (fitted on {len(train)} comments, judged on {len(test)} held out)")
    return 0
