"""Offline tools: what an operator or a data scientist runs by hand, never the service.

    datasets     labelled CSV/TSV/JSON-lines files, read once, every error at file:line
    evaluation   ``moderation eval``: how well a score separates labelled comments
    training     ``moderation train``: refit the toxicity model; the development splits
    calibration  ``moderation train --fit-relevance``: refit the relevance calibration
    backtest     ``moderation rules backtest``: stored comments replayed under other rules
    scoring      the score function ``moderation rules test`` runs text-only inline tests with
    demo         ``moderation demo``: a story and a dozen comments sent to a running service

Nothing on the request or worker path (``moderation.api``, ``moderation.web``,
``moderation.serve``, ``workers``) imports this package; ``tests/test_architecture.py``
checks the import graph. ``moderation.cli`` registers the commands and imports the module
that runs one only when it runs.
"""

# ``backtest()`` is not re-exported: the name would hide the module ``offline.backtest``.
from moderation.offline.backtest import BacktestReport
from moderation.offline.calibration import fit_relevance_calibration
from moderation.offline.datasets import (
    Example,
    offtopic_examples,
    read_examples,
    read_labels,
    read_records,
)
from moderation.offline.demo import run_demo
from moderation.offline.evaluation import evaluate, rule_thresholds, threshold_metrics
from moderation.offline.scoring import ScoreFunction, score_fn_from_settings
from moderation.offline.training import fit_toxicity_model, prepare_splits

__all__ = [
    "BacktestReport",
    "Example",
    "ScoreFunction",
    "evaluate",
    "fit_relevance_calibration",
    "fit_toxicity_model",
    "offtopic_examples",
    "prepare_splits",
    "read_examples",
    "read_labels",
    "read_records",
    "rule_thresholds",
    "run_demo",
    "score_fn_from_settings",
    "threshold_metrics",
]
