"""``moderation train``: refit the offline toxicity model on labelled comments.

The model (``moderation/scoring/models/toxicity_tuned.npz``) is MiniLM's top layer fine-tuned
on the labelled comments, stacked with alt-profanity-check's score (see
``moderation.scoring.toxicity_model``); on two CPU cores, 33,000 comments take about 10 minutes.
Input: CSV, TSV or JSON-lines files with a text column and a 0/1 label column (``--label-map``
turns other labels into 0/1)::

    moderation train data.csv --text-column text --label-column label
    moderation train --prepare-splits ../shared/data --out-dir var/splits

``--prepare-splits`` writes fixed-seed train/test splits of the development data (outside the
project), so the test parts stay untouched by training.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moderation.exceptions import ConfigurationError

DEFAULT_SEED = 20240601
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_EPOCHS = 2.0
"""Passes over the fine-tuning part; chosen before looking at any test split, and kept."""
STACKING_FRACTION = 0.1
"""Share of the training examples held out from fine-tuning to fit the stacking weights."""

TEXT_COLUMNS = ("text", "comment_text", "comment", "tweet", "content", "message")
LABEL_COLUMNS = ("label", "class", "toxic", "toxicity", "spam")


@dataclass
class Example:
    text: str
    label: int
    article: str | None = None
    parent: str | None = None


# --- reading labelled files ---------------------------------------------------------------
def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a CSV/TSV (header line) or JSON-lines file, as dicts."""
    if not path.is_file():
        raise ConfigurationError(f"File {str(path)!r} does not exist.")
    if path.suffix in {".jsonl", ".ndjson", ".json"}:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ConfigurationError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        return
    csv.field_size_limit(10**8)
    with path.open(encoding="utf-8", newline="") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        delimiter = "\t" if path.suffix == ".tsv" or sample.count("\t") > sample.count(",") else ","
        # Tab-separated files (OLID, SMS Spam Collection) do not quote their fields.
        if delimiter == "\t":
            yield from csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            yield from csv.DictReader(handle)


def parse_label_map(spec: str | None) -> dict[str, int] | None:
    """``'OFF=1,NOT=0'`` -> {'OFF': 1, 'NOT': 0}."""
    if not spec:
        return None
    mapping: dict[str, int] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or value.strip() not in {"0", "1"}:
            raise ConfigurationError(
                f"Option --label-map has item {part!r}: expected LABEL=0 or LABEL=1, "
                "e.g. 'OFF=1,NOT=0'."
            )
        mapping[key.strip()] = int(value)
    return mapping


def _pick(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str) -> str:
    if wanted:
        if wanted not in columns:
            raise ConfigurationError(
                f"Option --{what}-column has value {wanted!r}, which is not a column; "
                f"columns: {', '.join(columns)}."
            )
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise ConfigurationError(
        f"No {what} column found among {', '.join(columns)}; name it with --{what}-column."
    )


def to_label(value: Any, label_map: dict[str, int] | None) -> int | None:
    """0/1, or None for a label the map leaves out (that row is skipped)."""
    key = str(value).strip()
    if label_map is not None:
        return label_map.get(key)
    lowered = key.lower()
    if lowered in {"1", "true", "yes", "spam", "toxic", "off", "1.0"}:
        return 1
    if lowered in {"0", "false", "no", "ham", "not", "0.0"}:
        return 0
    try:
        return int(float(key) >= 0.5)
    except ValueError:
        raise ConfigurationError(
            f"Label {key!r} is not 0/1; map labels with --label-map, e.g. '{key}=1'."
        ) from None


def read_examples(
    path: Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    article_column: str | None = None,
    parent_column: str | None = None,
    label_map: dict[str, int] | None = None,
) -> list[Example]:
    examples: list[Example] = []
    columns: list[str] | None = None
    text_key = label_key = ""
    for row in read_rows(path):
        if columns is None:
            columns = list(row.keys())
            text_key = _pick(columns, text_column, TEXT_COLUMNS, "text")
            label_key = _pick(columns, label_column, LABEL_COLUMNS, "label")
            for option, wanted in (("article", article_column), ("parent", parent_column)):
                if wanted and wanted not in columns:
                    raise ConfigurationError(
                        f"Option --{option}-column has value {wanted!r}, which is not a "
                        f"column; columns: {', '.join(columns)}."
                    )
        label = to_label(row.get(label_key), label_map)
        text = row.get(text_key)
        if label is None or not isinstance(text, str) or not text.strip():
            continue
        article = str(row.get(article_column) or "") if article_column else None
        parent = (row.get(parent_column) or None) if parent_column else None
        examples.append(Example(text=text, label=label, article=article, parent=parent))
    return examples


# --- development data splits -----------------------------------------------------------
def split(items: list[Any], *, seed: int, test_fraction: float) -> tuple[list[Any], list[Any]]:
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    cut = int(round(len(items) * test_fraction))
    test = {i for i in order[:cut]}
    return [x for i, x in enumerate(items) if i not in test], [items[i] for i in sorted(test)]


_BYTE_RUN = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[ntr'\"\\])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "'": "'", '"': '"', "\\": "\\"}


def _kaggle_text(raw: str) -> str:
    """The Kaggle insults file escapes text: runs of ``\\xNN`` are UTF-8 bytes."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = _BYTE_RUN.sub(
        lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace"), text
    )
    return _ESCAPE.sub(
        lambda m: (
            chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" else _SIMPLE_ESCAPES[m.group(1)]
        ),
        text,
    )


def development_sets(data_dir: Path) -> dict[str, list[Example]]:
    """The toxicity development sets as (text, 0/1) examples; see ../shared/data/SOURCES.md."""
    tox = data_dir / "toxicity"
    sets: dict[str, list[Example]] = {}
    path = tox / "davidson_labeled_data.csv"
    if path.exists():  # class 0 hate speech, 1 offensive, 2 neither (MIT)
        sets["davidson"] = read_examples(
            path, text_column="tweet", label_column="class", label_map={"0": 1, "1": 1, "2": 0}
        )
    spans_dir = tox / "civil_comments_toxic_spans"
    if (spans_dir / "comments.csv").exists():  # CC0; toxic unless most raters said "not toxic"
        votes: dict[str, list[bool]] = {}
        for row in read_rows(spans_dir / "annotations.csv"):
            votes.setdefault(row["comment_id"], []).append(row["not toxic"] == "True")
        examples = []
        for row in read_rows(spans_dir / "comments.csv"):
            ticks = votes.get(row["comment_id"])
            if ticks and row["comment_text"].strip():
                label = int(sum(ticks) * 2 < len(ticks))
                examples.append(Example(text=row["comment_text"], label=label))
        sets["civil"] = examples
    path = tox / "olid-training-v1.0.tsv"
    if path.exists():  # licence not stated: evaluation only
        sets["olid"] = read_examples(
            path, text_column="tweet", label_column="subtask_a", label_map={"OFF": 1, "NOT": 0}
        )
    path = tox / "insults_kaggle_train.csv"
    if path.exists():  # licence not stated: evaluation only
        sets["kaggle_insults"] = [
            Example(text=_kaggle_text(e.text), label=e.label)
            for e in read_examples(path, text_column="Comment", label_column="Insult")
        ]
    return sets


SHIPPABLE = ("davidson", "civil")
"""Development sets whose licence allows shipping weights trained on them (MIT, CC0)."""


def prepare_splits(
    data_dir: Path, out_dir: Path, *, seed: int = DEFAULT_SEED, test_fraction: float = 0.2
) -> dict[str, dict[str, int]]:
    """Write ``<set>.train.jsonl`` / ``<set>.test.jsonl`` (text, label) for every set found."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    for name, examples in development_sets(data_dir).items():
        train, test = split(examples, seed=seed, test_fraction=test_fraction)
        for part, rows in (("train", train), ("test", test)):
            with (out_dir / f"{name}.{part}.jsonl").open("w", encoding="utf-8") as handle:
                for example in rows:
                    handle.write(json.dumps({"text": example.text, "label": example.label}) + "\n")
        counts[name] = {
            "train": len(train),
            "test": len(test),
            "positive": sum(e.label for e in examples),
        }
    return counts


# --- fitting --------------------------------------------------------------------------------
def fit_toxicity_model(
    examples: Sequence[Example],
    *,
    epochs: float = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SEED,
    embedder: Any = None,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
):
    """A :class:`~moderation.scoring.toxicity_model.ToxicityModel` fitted on ``examples``.

    1. A tenth of each label's examples (fixed seed) is set aside for stacking.
    2. The shipped MiniLM's states below its top layer are computed once for the rest.
    3. A copy of the top layer and a linear head are fine-tuned on them (AdamW, batches of
       32, warm-up then linear decay, classes balanced: the development sets are mostly
       toxic, a comment stream mostly not).
    4. A logistic regression over (lexical logit, tuned logit) is fitted on the set-aside
       tenth, so its weights judge the tuned layer on comments it did not see.
    """
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from moderation.scoring._embedding import Embedder
    from moderation.scoring.lexical import lexical_probabilities
    from moderation.scoring.toxicity_model import (
        DEFAULT_MAX_TOKENS,
        DEFAULT_TUNED_LAYERS,
        ToxicityModel,
        TunedTop,
        logit,
        round_to_file,
    )

    labels = [e.label for e in examples]
    if len(set(labels)) < 2:
        raise ConfigurationError("Training needs examples of both labels (0 and 1).")
    fit, stacking = [], []
    for label in (0, 1):  # stratified, so both parts hold both labels
        group = [e for e in examples if e.label == label]
        if len(group) < 2:
            raise ConfigurationError(
                f"Training needs at least 2 examples of each label; label {label} has {len(group)}."
            )
        fraction = max(1, round(len(group) * STACKING_FRACTION)) / len(group)
        part_fit, part_stacking = split(group, seed=seed, test_fraction=fraction)
        fit += part_fit
        stacking += part_stacking
    torch.manual_seed(seed)
    embedder = embedder or Embedder()
    first_layer = len(embedder.transformer.encoder.layer) - DEFAULT_TUNED_LAYERS
    top = TunedTop.from_embedder(embedder, first_layer)
    states = bottom_states_with_progress(
        embedder,
        [e.text[:4000] for e in fit],
        first_layer=first_layer,
        max_tokens=DEFAULT_MAX_TOKENS,
        progress=progress,
    )
    _fine_tune(top, states, [e.label for e in fit], epochs=epochs, seed=seed, progress=progress)
    round_to_file(top, embedder, first_layer)  # the stack is fitted on the model that ships
    model = ToxicityModel(top, first_layer=first_layer, stack=(0.0, 1.0, 0.0))
    stacking_texts = [e.text[:4000] for e in stacking]
    tuned = model.tuned_logits(embedder, stacking_texts)
    lexical = lexical_probabilities(stacking_texts)
    stacking_labels = np.array([e.label for e in stacking])
    features = np.column_stack([logit(lexical), tuned])
    second = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced")
    second.fit(features, stacking_labels)
    a, b = (float(v) for v in second.coef_[0])
    model.stack = (a, b, float(second.intercept_[0]))

    def auc(scores: np.ndarray) -> float:
        return round(float(roc_auc_score(stacking_labels, scores)), 4)

    model.metadata = {
        "examples": len(examples),
        "positive": int(sum(labels)),
        "fine_tuned_on": len(fit),
        "stacking_examples": len(stacking),
        "epochs": epochs,
        "tuned_layers": DEFAULT_TUNED_LAYERS,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "held_out_roc_auc": {
            "lexical": auc(lexical),
            "tuned": auc(tuned),
            "stacked": auc(model.combine(lexical, tuned)),
        },
        **(metadata or {}),
    }
    return model


def _fine_tune(
    top: Any,
    states: Sequence[Any],
    labels: Sequence[int],
    *,
    epochs: float,
    seed: int,
    progress: bool,
) -> None:
    """Train ``top`` on cached lower-layer states: AdamW, batches of 32 of similar length,
    warm-up then linear decay, positives weighted so both classes count equally."""
    import torch
    from tqdm import tqdm

    y = torch.tensor(labels, dtype=torch.float32)
    positive = float(y.mean())
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - positive) / positive))
    optimiser = torch.optim.AdamW(
        [
            {"params": top.layers.parameters(), "lr": 4e-5},
            {"params": top.head.parameters(), "lr": 1e-3},
        ],
        weight_decay=0.01,
    )
    batch_size = 32
    total = max(1, int(epochs * len(states) / batch_size))
    warmup = max(1, min(200, total // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, 1 - step / total)
    )
    rng = random.Random(seed)
    step = 0
    top.train()
    with tqdm(total=total, desc="fine-tuning", file=sys.stderr, disable=not progress) as bar:
        while step < total:
            for index in _length_bucketed_batches(states, batch_size, rng):
                if step >= total:
                    break
                hidden, mask = _pad(states, index)
                loss = loss_fn(top(hidden, mask), y[index])
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
                optimiser.step()
                schedule.step()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)


def bottom_states_with_progress(
    embedder: Any, texts: Sequence[str], *, first_layer: int, max_tokens: int, progress: bool
) -> list[Any]:
    """Each text's MiniLM states below the tuned layer (float16, unpadded), computed once."""
    import torch
    from tqdm import tqdm

    from moderation.scoring.toxicity_model import bottom_states, length_order

    states: list[Any] = [None] * len(texts)
    order = length_order(texts)
    step = 128
    with tqdm(total=len(texts), desc="encoding", file=sys.stderr, disable=not progress) as bar:
        for start in range(0, len(order), step):
            index = order[start : start + step]
            hidden, mask = bottom_states(
                embedder, [texts[i] for i in index], first_layer=first_layer, max_tokens=max_tokens
            )
            lengths = mask.sum(1).tolist()
            for row, i in enumerate(index):
                states[i] = hidden[row, : int(lengths[row])].to(torch.float16).cpu()
            bar.update(len(index))
    return states


def _length_bucketed_batches(states: Sequence[Any], batch_size: int, rng: random.Random):
    """Shuffled batches of similar lengths (less padding), in a shuffled order."""
    order = list(range(len(states)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size * 50):
        chunk = sorted(order[start : start + batch_size * 50], key=lambda i: states[i].shape[0])
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad(states: Sequence[Any], index: Sequence[int]):
    import torch

    length = max(states[i].shape[0] for i in index)
    hidden = torch.zeros(len(index), length, states[index[0]].shape[1])
    mask = torch.zeros(len(index), length, dtype=torch.long)
    for row, i in enumerate(index):
        n = states[i].shape[0]
        hidden[row, :n] = states[i].float()
        mask[row, :n] = 1
    return hidden, mask


# --- command --------------------------------------------------------------------------------
def _train(args: argparse.Namespace) -> int:
    if args.fit_relevance:
        from moderation.scoring.relevance import DEFAULT_CALIBRATION_PATH

        calibration, metrics = fit_relevance_calibration(Path(args.fit_relevance))
        out = Path(args.out) if args.out else DEFAULT_CALIBRATION_PATH
        calibration.save(out)
        print(f"wrote {out}: {json.dumps(metrics)}")
        return 0
    if args.prepare_splits:
        counts = prepare_splits(
            Path(args.prepare_splits),
            Path(args.out_dir),
            seed=args.seed,
            test_fraction=args.test_fraction,
        )
        for name, count in counts.items():
            print(
                f"{name}: {count['train']} train, {count['test']} test, "
                f"{count['positive']} positive in all -> {args.out_dir}/{name}.*.jsonl"
            )
        return 0
    if not args.files:
        raise ConfigurationError("Name at least one labelled FILE, or use --prepare-splits DIR.")
    from moderation.scoring._embedding import Embedder
    from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH

    label_map = parse_label_map(args.label_map)
    examples: list[Example] = []
    for name in args.files:
        examples += read_examples(
            Path(name),
            text_column=args.text_column,
            label_column=args.label_column,
            label_map=label_map,
        )
    if args.limit:
        random.Random(args.seed).shuffle(examples)
        examples = examples[: args.limit]
    embedder = Embedder()
    model = fit_toxicity_model(
        examples,
        epochs=args.epochs,
        seed=args.seed,
        embedder=embedder,
        progress=not args.quiet,
        metadata={"files": [Path(f).name for f in args.files], "seed": args.seed},
    )
    out = Path(args.out) if args.out else DEFAULT_MODEL_PATH
    model.save(out, embedder)
    print(
        f"wrote {out} ({len(examples)} examples, {sum(e.label for e in examples)} positive; "
        f"held-out ROC-AUC {json.dumps(model.metadata['held_out_roc_auc'])})"
    )
    return 0


def add_train_command(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="refit the offline toxicity model on labelled comments (CSV/TSV/JSON lines)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--text-column", help=f"default: first of {', '.join(TEXT_COLUMNS)}")
    p.add_argument("--label-column", help=f"default: first of {', '.join(LABEL_COLUMNS)}")
    p.add_argument("--label-map", help="e.g. 'OFF=1,NOT=0'; unmapped labels are skipped")
    p.add_argument("--out", help="where to write the model (default: the shipped one)")
    p.add_argument(
        "--epochs", type=float, default=DEFAULT_EPOCHS, help="passes over the training data"
    )
    p.add_argument("--limit", type=int, help="train on a random N examples")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--prepare-splits",
        metavar="DATA_DIR",
        help="write fixed-seed train/test splits of the development data instead of training",
    )
    p.add_argument("--out-dir", default="var/splits", help="with --prepare-splits")
    p.add_argument(
        "--fit-relevance",
        metavar="CONTEXT_DIR",
        help="refit the relevance calibration on the off-topic set built from CONTEXT_DIR",
    )
    p.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION)
    p.set_defaults(func=_train)


# --- relevance calibration ------------------------------------------------------------------
def fit_relevance_calibration(
    context_dir: Path, *, embedder: Any = None
) -> tuple[Any, dict[str, Any]]:
    """Fit the relevance calibration on half the threads of the off-topic set built from
    ``context_dir`` (see ``moderation.evaluation.offtopic_examples``); report the other half.

    Returns (calibration, metrics)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from moderation.evaluation import _article_from_text, offtopic_examples
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
            articles[row["article_id"]] = _article_from_text(row["article"], row["article_id"])
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
