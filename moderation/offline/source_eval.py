"""Every shared source, one row each: how the toxicity labels do on its test part
(``moderation eval --shared DATA_DIR``).

Each source is split once, with the fixed seed that training uses (a fifth held out), so
a source the model was trained on is judged on comments training never saw, and a source
it was not trained on (any with ``--hold-out`` at training) shows how it does on data from
elsewhere. The sources never trained on (``olid``, ``kaggle``, the project's hard cases)
are judged on all their rows. Per source: ROC-AUC of every label the source
carries, alt-profanity-check's for comparison, and what the rules file does at its own
thresholds when only the toxicity labels speak (the comment on-topic and not spam): the
share of abusive comments approved and of civil ones rejected. On Perspective's own scores,
the rank correlation with each of its attributes.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moderation.defaults import DEFAULT_SOURCE_TEST_CAP, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION
from moderation.exceptions import ConfigurationError
from moderation.offline.datasets import split
from moderation.offline.evaluation import load_ruleset, roc_auc
from moderation.offline.progress import ProgressBar, progress_bar
from moderation.offline.sources import EVALUATION_ONLY, LabelledText, check_sources, shared_sources
from moderation.policy import Action, ArticleFacts, EvaluationContext, RuleSet

NEUTRAL_SCORES = {"relevance": 1.0, "spam": 0.0}
"""The other scores the rules see: on-topic and not spam, so only abuse decides."""


def held_out_part(
    name: str, examples: list[LabelledText], *, cap: int = DEFAULT_SOURCE_TEST_CAP
) -> list[LabelledText]:
    """What a source is judged on: the fifth that training holds out (same seed), or all
    of a source that is never trained on; sampled down to ``cap``."""
    test = examples
    if name not in EVALUATION_ONLY:
        _, test = split(examples, seed=DEFAULT_SPLIT_SEED, test_fraction=DEFAULT_TEST_FRACTION)
    if len(test) > cap:
        test = random.Random(7).sample(test, cap)
    return test


def training_part(examples: list[LabelledText]) -> list[LabelledText]:
    train, _ = split(examples, seed=DEFAULT_SPLIT_SEED, test_fraction=DEFAULT_TEST_FRACTION)
    return train


def score_texts(
    scorer: Any, texts: Sequence[str], *, step: int = 64, bar: ProgressBar | None = None
) -> list[dict[str, Any]]:
    """The toxicity scorer's scores and evidence for each text (no spans: not needed);
    ``bar`` advances by each batch."""
    from moderation.scoring.base import ArticleInput, CommentInput

    if hasattr(scorer, "explain_threshold"):
        scorer.explain_threshold = float("inf")
    article = ArticleInput(id="eval", title="", body="")
    out: list[dict[str, Any]] = []
    for start in range(0, len(texts), step):
        batch = [
            CommentInput(id=str(start + i), text=text, author_id="eval", article=article)
            for i, text in enumerate(texts[start : start + step])
        ]
        for result in scorer.score(batch):
            out.append({"scores": result.scores, "evidence": result.evidence.get("toxicity", {})})
        if bar is not None:
            bar.advance(len(batch))
    return out


def rules_outcome(
    ruleset: RuleSet, texts: Sequence[str], scores: Sequence[dict[str, float]]
) -> list[str]:
    """The rules' action on each comment, judged as a new author's first comment."""
    now = datetime.now(UTC)
    history = {q: 0 for q in ruleset.history_queries}
    actions = []
    for index, (text, values) in enumerate(zip(texts, scores, strict=True)):
        ctx = EvaluationContext(
            scores={**NEUTRAL_SCORES, **values},
            text=text,
            author_id=f"eval-author-{index}",
            article=ArticleFacts(id="eval"),
            is_reply=False,
            created_at=now,
            history=history,
        )
        actions.append(ruleset.evaluate(ctx).action.value)
    return actions


def evaluate_source(
    name: str,
    examples: list[LabelledText],
    scored: Sequence[dict[str, Any]],
    *,
    ruleset: RuleSet | None,
    trained_on: set[str],
) -> dict[str, Any]:
    labels = sorted({label for e in examples for label in e.labels})
    row: dict[str, Any] = {
        "source": name,
        "rows": len(examples),
        "trained_on": name in trained_on,
        "evaluation_only": name in EVALUATION_ONLY,
        "roc_auc": {},
    }
    for label in labels:
        index = [i for i, e in enumerate(examples) if label in e.labels]
        if label not in scored[0]["scores"]:
            continue
        truth = [int(bool(examples[i].positive(label))) for i in index]
        auc = roc_auc(truth, [scored[i]["scores"][label] for i in index])
        if auc is not None:
            row["roc_auc"][label] = round(auc, 4)
    toxic = [int(bool(e.positive("toxicity"))) for e in examples]
    lexical = [s["evidence"].get("lexical") for s in scored]
    if "toxicity" in labels and None not in lexical:
        auc = roc_auc(toxic, [float(v) for v in lexical])
        row["baseline_lexical_roc_auc"] = round(auc, 4) if auc is not None else None
    if ruleset is not None and "toxicity" in labels:
        actions = rules_outcome(ruleset, [e.text for e in examples], [s["scores"] for s in scored])
        abusive = [a for a, t in zip(actions, toxic, strict=True) if t]
        civil = [a for a, t in zip(actions, toxic, strict=True) if not t]
        row["abusive_approved"] = _share(abusive, Action.APPROVE.value)
        row["civil_rejected"] = _share(civil, Action.REJECT.value)
        row["escalated"] = _share(actions, Action.ESCALATE.value)
        groups = sorted({e.group for e in examples if e.group is not None})
        if groups:
            row["groups"] = {
                group: _group_figures(examples, scored, actions, toxic, group) for group in groups
            }
    if name == "perspective":
        from scipy.stats import spearmanr

        row["spearman_with_perspective"] = {
            label: round(
                float(
                    spearmanr(
                        [e.labels[label] for e in examples], [s["scores"][label] for s in scored]
                    ).statistic
                ),
                3,
            )
            for label in labels
            if label in scored[0]["scores"]
        }
    return row


def _group_figures(
    examples: Sequence[LabelledText],
    scored: Sequence[dict[str, Any]],
    actions: Sequence[str],
    toxic: Sequence[int],
    group: str,
) -> dict[str, Any]:
    """One part of a source (a hard-cases category): its size, toxicity ROC-AUC where it
    has both classes, and what the rules do with its abusive and its civil comments."""
    index = [i for i, e in enumerate(examples) if e.group == group]
    truth = [toxic[i] for i in index]
    auc = roc_auc(truth, [scored[i]["scores"]["toxicity"] for i in index])
    return {
        "rows": len(index),
        "abusive": sum(truth),
        "toxicity_roc_auc": round(auc, 4) if auc is not None else None,
        "abusive_approved": _share([actions[i] for i in index if toxic[i]], Action.APPROVE.value),
        "civil_rejected": _share([actions[i] for i in index if not toxic[i]], Action.REJECT.value),
        "civil_escalated": _share(
            [actions[i] for i in index if not toxic[i]], Action.ESCALATE.value
        ),
    }


def _share(actions: Sequence[str], action: str) -> float | None:
    return round(sum(a == action for a in actions) / len(actions), 4) if actions else None


def evaluate_shared(
    data_dir: Path,
    scorer: Any,
    *,
    ruleset: RuleSet | None,
    names: list[str] | None = None,
    cap: int = DEFAULT_SOURCE_TEST_CAP,
    trained_on: set[str] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One row per shared source found under ``data_dir``; ``progress``: a bar on stderr
    (when it is a terminal) over every source's comments."""
    if trained_on is None:
        model = getattr(scorer, "model", None)
        trained_on = set(getattr(model, "metadata", {}).get("sources", {}))
    parts = {
        name: held_out_part(name, examples, cap=cap)
        for name, examples in shared_sources(data_dir, names).items()
    }
    parts = {name: test for name, test in parts.items() if test}  # too small to hold out a fifth
    rows = []
    with progress_bar("scoring", sum(map(len, parts.values())), enabled=progress) as bar:
        for name, test in parts.items():
            bar.note(name)
            scored = score_texts(scorer, [e.text for e in test], bar=bar)
            rows.append(evaluate_source(name, test, scored, ruleset=ruleset, trained_on=trained_on))
    return rows


def format_table(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    """The rows as a Markdown table (the README's is this output)."""
    short = {
        "toxicity": "tox",
        "severe_toxicity": "severe",
        "obscene": "obscene",
        "threat": "threat",
        "insult": "insult",
        "identity_attack": "identity",
        "sexual_explicit": "sexual",
    }
    head = ["source", "rows", "trained on"] + [short.get(label, label) for label in labels]
    head += ["profanity-check", "abusive approved", "civil rejected"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        seen = "eval only" if row["evaluation_only"] else ("yes" if row["trained_on"] else "no")
        cells = [row["source"], str(row["rows"]), seen]
        cells += [_cell(row["roc_auc"].get(label)) for label in labels]
        cells += [
            _cell(row.get("baseline_lexical_roc_auc")),
            _cell(row.get("abusive_approved")),
            _cell(row.get("civil_rejected")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for row in rows:
        if row.get("groups"):
            lines += ["", f"{row['source']}, by category:", ""]
            head = ["category", "rows", "abusive", "tox", "abusive approved", "civil rejected",
                    "civil escalated"]  # fmt: skip
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for group, figures in row["groups"].items():
                cells = [group, str(figures["rows"]), str(figures["abusive"])]
                cells += [
                    _cell(figures[key])
                    for key in (
                        "toxicity_roc_auc", "abusive_approved", "civil_rejected", "civil_escalated"
                    )
                ]  # fmt: skip
                lines.append("| " + " | ".join(cells) + " |")
    spearman = next((r for r in rows if "spearman_with_perspective" in r), None)
    if spearman:
        pairs = ", ".join(f"{k} {v}" for k, v in spearman["spearman_with_perspective"].items())
        lines.append("")
        lines.append(f"Rank correlation with Perspective's own scores: {pairs}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def run_shared_eval(args: argparse.Namespace) -> int:
    """``moderation eval --shared DATA_DIR``: the per-source table of the toxicity labels."""
    from moderation.settings import get_settings

    settings = get_settings()
    if args.toxicity_backend:
        settings = settings.model_copy(update={"toxicity_backend": args.toxicity_backend})
    from moderation.scoring import build_scorers

    data_dir = Path(args.shared)
    if not data_dir.is_dir():
        raise ConfigurationError(f"Option --shared has value {args.shared!r}: not a directory.")
    names = [n.strip() for n in args.sources.split(",")] if args.sources else None
    check_sources(names or [], "--sources")
    rules_path = Path(args.rules) if args.rules else settings.rules
    ruleset = load_ruleset(rules_path)
    scorers = build_scorers(settings.model_copy(update={"scorers": "toxicity"}), redis=None)
    scorer = scorers.scorers[0]
    rows = evaluate_shared(
        data_dir, scorer, ruleset=ruleset, names=names, cap=args.test_cap, progress=not args.quiet
    )
    if not rows:
        raise ConfigurationError(f"No shared source found under {data_dir}.")
    print(format_table(rows, scorers.labels))
    if args.json:
        report = {"rules_file": str(rules_path), "labels": list(scorers.labels), "sources": rows}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0
