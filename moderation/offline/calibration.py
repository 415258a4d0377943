"""Fit the relevance calibration (``moderation train --fit-relevance``).

The calibration (``moderation/scoring/models/relevance_calibration.json``, loaded by
``moderation.scoring.relevance``) is a logistic regression over the relevance scorer's
article features, fitted on half the threads of the off-topic set
(``moderation.offline.datasets.offtopic_examples``) and reported on the other half.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moderation.offline.datasets import article_from_text, offtopic_examples

if TYPE_CHECKING:
    from moderation.scoring.relevance import RelevanceCalibration


def fit_relevance_calibration(
    context_dir: Path, *, embedder: Any = None
) -> tuple[RelevanceCalibration, dict[str, Any]]:
    """Fit the relevance calibration on half the threads of the off-topic set built from
    ``context_dir`` (see ``moderation.offline.datasets.offtopic_examples``); report the other half.

    Returns (calibration, metrics)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from moderation.scoring._embedding import Embedder
    from moderation.scoring.base import CommentInput
    from moderation.scoring.relevance import (
        CALIBRATION_FEATURES,
        FEATURE_NAMES,
        RelevanceCalibration,
        RelevanceScorer,
    )

    fit_rows = offtopic_examples(context_dir, part="fit")
    rows = fit_rows + offtopic_examples(context_dir, part="test")
    scorer = RelevanceScorer(embedder=embedder or Embedder())
    articles: dict[str, Any] = {}
    comments = []
    for index, row in enumerate(rows):
        if row["article_id"] not in articles:
            articles[row["article_id"]] = article_from_text(row["article"], row["article_id"])
        # Calibrate on the article alone: the parent path reuses the same map.
        comments.append(
            CommentInput(
                id=str(index), text=row["text"], author_id="a", article=articles[row["article_id"]]
            )
        )
    features = np.vstack([item["article"] for item in scorer.features(comments)])
    labels = np.array([row["label"] for row in rows])
    is_fit = np.arange(len(rows)) < len(fit_rows)
    columns = [FEATURE_NAMES.index(name) for name in CALIBRATION_FEATURES]
    model = LogisticRegression(C=100.0, max_iter=5000)  # four features: barely regularised
    model.fit(features[is_fit][:, columns], labels[is_fit])
    calibration = RelevanceCalibration(
        coef=model.coef_[0].astype(np.float64), intercept=float(model.intercept_[0])
    )
    test = ~is_fit
    metrics = {
        "fit_rows": int(is_fit.sum()),
        "test_rows": int(test.sum()),
        "test_roc_auc_calibrated": round(
            float(roc_auc_score(labels[test], calibration.predict(features[test]))), 4
        ),
        "test_roc_auc_raw_cosine": round(float(roc_auc_score(labels[test], features[test, 0])), 4),
    }
    calibration.metadata = {
        "data": "globe_comments_dev.csv + globe_articles.csv (SFU_Comment_Extractor, MIT)",
        "command": "moderation train --fit-relevance CONTEXT_DIR",
        **metrics,
    }
    return calibration, metrics
