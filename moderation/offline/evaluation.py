"""How well a score separates labelled comments (``moderation eval``).

Scores labelled rows with the active scorers; reports ROC-AUC, the baseline's ROC-AUC where
the score's evidence holds one (toxicity: alt-profanity-check alone; relevance: the raw
cosine), precision and recall at each threshold the rules file compares the score with, and
what the rules file decides on those scores. Label 1 means "high score expected" (toxic,
spam, on-topic).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from moderation.exceptions import ConfigurationError
from moderation.offline.datasets import (
    article_from_text,
    offtopic_examples,
    parse_label_map,
    read_examples,
)
from moderation.policy import Action, ArticleFacts, EvaluationContext, RuleSet, load_rules

BASELINES = {"toxicity": ("lexical", "alt-profanity-check"), "relevance": ("cosine", "raw cosine")}
"""Evidence fields holding a baseline for a score: (field, what it is)."""

_OPERATORS = ("gte", "gt", "lte", "lt")


# --- thresholds from the rules file --------------------------------------------------------
def load_ruleset(rules_path: Path | None) -> RuleSet | None:
    """The rules file eval reports against, loaded by the rules loader; None when there is
    no such file. A broken file raises the loader's ``RulesError`` (``file:line:col`` lines)."""
    if rules_path is None or not rules_path.is_file():
        return None
    return load_rules(rules_path)


def rule_thresholds(rules: Path | RuleSet | None, score: str) -> list[tuple[str, float]]:
    """(operator, value) pairs the rules compare ``score`` with, in any rule, at any depth of
    ``all``/``any``/``not`` (``between: [a, b]`` counts as ``gte a`` and ``lte b``).

    ``rules`` is a loaded ruleset or a rules file (none there: no thresholds)."""
    ruleset = rules if isinstance(rules, RuleSet) or rules is None else load_ruleset(rules)
    if ruleset is None:
        return []
    found: set[tuple[str, float]] = set()
    for rule in ruleset.rules:
        for condition in _conditions(rule.spec.when):
            if getattr(condition, "score", None) != score:
                continue
            for op in _OPERATORS:
                value = getattr(condition, op, None)
                if value is not None:
                    found.add((op, float(value)))
            between = getattr(condition, "between", None)
            if between is not None:
                found |= {("gte", float(between[0])), ("lte", float(between[1]))}
    return sorted(found, key=lambda item: (item[1], item[0]))


def _conditions(condition: Any) -> Iterator[Any]:
    """A rule's ``when`` and every condition inside it (the models' ``all``/``any``/``not_``)."""
    yield condition
    children = [*(getattr(condition, "all", None) or ()), *(getattr(condition, "any", None) or ())]
    if getattr(condition, "not_", None) is not None:
        children.append(condition.not_)
    for child in children:
        yield from _conditions(child)


# --- metrics -------------------------------------------------------------------------------
def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def threshold_metrics(
    labels: Sequence[int], scores: Sequence[float], op: str, value: float
) -> dict[str, Any]:
    """Precision and recall of the rule ``score <op> value`` at finding its class: label 1 for
    ``gt``/``gte`` rules, label 0 for ``lt``/``lte`` rules (e.g. off-topic for relevance)."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    hit = {"gte": s >= value, "gt": s > value, "lte": s <= value, "lt": s < value}[op]
    target = y == (1 if op in {"gte", "gt"} else 0)
    tp = int(np.sum(hit & target))
    flagged = int(np.sum(hit))
    return {
        "rule": f"{op} {value:g}",
        "finds": "label 1" if op in {"gte", "gt"} else "label 0",
        "flagged": flagged,
        "precision": round(tp / flagged, 4) if flagged else None,
        "recall": round(tp / int(target.sum()), 4) if target.sum() else None,
    }


# --- scoring -------------------------------------------------------------------------------
def _scorer_name(score: str) -> str:
    from moderation.scoring.detoxify import TOXICITY_LABELS

    if score in TOXICITY_LABELS:
        return "toxicity"
    if score in {"relevance", "spam"}:
        return score
    raise ConfigurationError(
        f"Option --score has value {score!r}: expected relevance, spam or a toxicity label "
        f"({', '.join(TOXICITY_LABELS)})."
    )


def score_rows(
    rows: Sequence[dict[str, Any]],
    score: str,
    *,
    settings: Any,
    scorers: Any = None,
    progress: bool = True,
    explain: bool = False,
) -> tuple[list[float], dict[str, list[float]], list[dict[str, float]]]:
    """The score of every row, baselines read from its evidence, and every score per row."""
    from moderation.offline.progress import progress_bar
    from moderation.scoring import build_scorers
    from moderation.scoring.base import CommentInput

    if scorers is None:
        only = settings.model_copy(update={"scorers": _scorer_name(score)})
        scorers = build_scorers(only, redis=None)
    if not explain:
        # Occlusion re-scores each word of every high-scoring comment: not needed for metrics.
        for scorer in scorers.scorers:
            if hasattr(scorer, "explain_threshold"):
                scorer.explain_threshold = float("inf")
    if score not in scorers.labels:
        raise ConfigurationError(
            f"Score {score!r} is not produced by the active scorers ({', '.join(scorers.labels)})."
        )
    articles: dict[str, Any] = {}
    comments = []
    for index, row in enumerate(rows):
        article_text = row.get("article") or ""
        key = str(row.get("article_id") or article_text[:200])
        if key not in articles:
            article = article_from_text(article_text, f"eval-{len(articles)}")
            if scorers.featurizer_names:
                from dataclasses import replace

                article = replace(article, features=scorers.article_features(article))
            articles[key] = article
        comments.append(
            CommentInput(
                id=f"eval-{index}",
                text=row["text"],
                author_id=f"eval-author-{index}",
                article=articles[key],
                parent_text=row.get("parent") or None,
            )
        )
    values: list[float] = []
    all_scores: list[dict[str, float]] = []
    baseline_field = BASELINES.get(score, (None, None))[0]
    baselines: dict[str, list[float]] = {}
    step = scorers.batch_size
    with progress_bar(f"scoring {score}", len(comments), enabled=progress) as bar:
        for start in range(0, len(comments), step):
            for result in scorers.score(comments[start : start + step]):
                values.append(result.scores[score])
                all_scores.append(dict(result.scores))
                evidence = result.evidence.get(_scorer_name(score), {})
                if baseline_field and baseline_field in evidence:
                    baselines.setdefault(baseline_field, []).append(float(evidence[baseline_field]))
            bar.advance(min(step, len(comments) - start))
    baselines = {k: v for k, v in baselines.items() if len(v) == len(values)}
    return values, baselines, all_scores


def rules_confusion(
    rows: Sequence[dict[str, Any]], all_scores: Sequence[dict[str, float]], ruleset: RuleSet
) -> dict[str, Any]:
    """What the rules do with these scores: label x action counts.

    Each row is judged as a first comment by a new author on its own article, with only
    the scores eval computed (rules on other scores do not match)."""
    now = datetime.now(UTC)
    history = {q: 0 for q in ruleset.history_queries}
    table: dict[str, dict[str, int]] = {}
    for index, (row, scores) in enumerate(zip(rows, all_scores, strict=True)):
        ctx = EvaluationContext(
            scores=scores,
            text=row["text"],
            author_id=f"eval-author-{index}",
            article=ArticleFacts(id=f"eval-{index}"),
            is_reply=bool(row.get("parent")),
            created_at=now,
            history=history,
        )
        action = ruleset.evaluate(ctx).action.value
        counts = table.setdefault(str(int(row["label"])), {})
        counts[action] = counts.get(action, 0) + 1
    return {"rules_version": ruleset.version, "by_label": table}


def evaluate(
    rows: Sequence[dict[str, Any]],
    score: str,
    *,
    settings: Any,
    rules_path: Path | None = None,
    scorers: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    ruleset = load_ruleset(rules_path)  # before the scoring: a broken file fails at once
    labels = [int(row["label"]) for row in rows]
    values, baselines, all_scores = score_rows(
        rows, score, settings=settings, scorers=scorers, progress=progress
    )
    thresholds = rule_thresholds(ruleset, score)
    auc = roc_auc(labels, values)
    report: dict[str, Any] = {
        "score": score,
        "rows": len(rows),
        "positive": int(sum(labels)),
        "roc_auc": round(auc, 4) if auc is not None else None,
        "rules_file": str(rules_path) if rules_path else None,
        "thresholds": [threshold_metrics(labels, values, op, v) for op, v in thresholds],
    }
    if ruleset is not None:
        report["actions"] = rules_confusion(rows, all_scores, ruleset)
    if not thresholds:
        report["thresholds"] = [threshold_metrics(labels, values, "gte", 0.5)]
        report["note"] = f"no {score} threshold in the rules file; shown at gte 0.5"
    for name, series in baselines.items():
        base_auc = roc_auc(labels, series)
        report[f"baseline_{name}"] = {
            "what": BASELINES[score][1],
            "roc_auc": round(base_auc, 4) if base_auc is not None else None,
        }
    return report


def load_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.offtopic_from_context:
        rows = offtopic_examples(
            Path(args.offtopic_from_context), seed=args.sample_seed, part=args.offtopic_part
        )
    else:
        if not args.files:
            raise ConfigurationError("Name a labelled FILE, or use --offtopic-from-context DIR.")
        rows = []
        for name in args.files:
            examples = read_examples(
                Path(name),
                text_column=args.text_column,
                label_column=args.label_column,
                article_column=args.article_column,
                parent_column=args.parent_column,
                label_map=parse_label_map(args.label_map),
            )
            rows += [
                {"text": e.text, "label": e.label, "article": e.article, "parent": e.parent}
                for e in examples
            ]
    if args.limit and len(rows) > args.limit:
        rows = random.Random(args.sample_seed).sample(rows, args.limit)
    return rows


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['score']}: {report['rows']} rows, {report['positive']} labelled 1",
        f"  ROC-AUC {report['roc_auc']}",
    ]
    for key, value in report.items():
        if key.startswith("baseline_"):
            lines.append(f"  baseline ({value['what']}) ROC-AUC {value['roc_auc']}")
    for item in report["thresholds"]:
        lines.append(
            f"  {report['score']} {item['rule']} (finds {item['finds']}): "
            f"flagged {item['flagged']}, precision {item['precision']}, recall {item['recall']}"
        )
    if report.get("note"):
        lines.append(f"  ({report['note']})")
    actions = report.get("actions")
    if actions:
        lines.append(f"  rules' actions on these scores (rules {actions['rules_version'][:12]}):")
        order = [a.value for a in (Action.APPROVE, Action.ESCALATE, Action.REJECT)]
        lines.append(f"    {'label':>5}  " + " ".join(f"{a:>8}" for a in order))
        for label, counts in sorted(actions["by_label"].items()):
            cells = " ".join(f"{counts.get(a, 0):>8}" for a in order)
            lines.append(f"    {label:>5}  {cells}")
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    """``moderation eval``: print the report (and write it, and the rows, if asked)."""
    from moderation.settings import get_settings

    settings = get_settings()
    if args.toxicity_backend:
        settings = settings.model_copy(update={"toxicity_backend": args.toxicity_backend})
    rows = load_rows(args)
    if not rows:
        raise ConfigurationError("No labelled rows to evaluate.")
    rules_path = Path(args.rules) if args.rules else settings.rules
    report = evaluate(
        rows, args.score, settings=settings, rules_path=rules_path, progress=not args.quiet
    )
    report["source"] = (
        " ".join(args.files)
        if args.files
        else f"offtopic-from-context {args.offtopic_from_context}"
    )
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.write_rows:
        with Path(args.write_rows).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return 0
