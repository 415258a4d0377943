"""Refit the offline toxicity model on labelled comments (``moderation train``).

The model (``moderation/scoring/models/toxicity_tuned.npz``) is MiniLM's top layer fine-tuned
on the labelled comments, stacked with alt-profanity-check's score (see
``moderation.scoring.toxicity_model``); on two CPU cores, 33,000 comments take about 10 minutes.
``prepare_splits`` writes fixed-seed train/test splits of the development data (outside the
project), so the test parts stay untouched by training.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported inside the functions that need them: they load torch
    import torch

    from moderation.scoring.toxicity_model import ToxicityModel

from moderation.defaults import (
    DEFAULT_EPOCHS,
    DEFAULT_SHARED_EPOCHS,
    DEFAULT_SOURCE_TRAIN_CAP,
    DEFAULT_SPLIT_SEED,
    DEFAULT_TEST_FRACTION,
    DEFAULT_TUNED_LAYERS,
)
from moderation.exceptions import ConfigurationError
from moderation.offline.datasets import (
    Example,
    parse_label_map,
    read_examples,
    read_records,
    split,
)
from moderation.offline.sources import LABELS, LabelledText, check_sources, kaggle_text

STACKING_FRACTION = 0.1
"""Share of the training examples held out from fine-tuning to fit the stacking weights."""

STACK_SOURCE_WEIGHTS: Mapping[str, float] = MappingProxyType({})
"""How many times an example of a source counts when the stacks are fitted (absent: once).
None by default. The stack is one line per label for every source, and sources pull it
different ways: the Davidson tweets, Civil Comments and Perspective's Wikipedia comments
rank best when alt-profanity-check weighs more, the hate-speech sources when the tuned
layers do. Davidson counting three times was tried (docs/scoring.md, "The stack's
weights") and not shipped: a tie on Davidson for losses on every hate source."""


# --- development data splits ---------------------------------------------------------------
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
        for _, row in read_records(spans_dir / "annotations.csv"):
            votes.setdefault(row["comment_id"], []).append(row["not toxic"] == "True")
        examples = []
        for _, row in read_records(spans_dir / "comments.csv"):
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
            Example(text=kaggle_text(e.text), label=e.label)
            for e in read_examples(path, text_column="Comment", label_column="Insult")
        ]
    return sets


def prepare_splits(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = DEFAULT_SPLIT_SEED,
    test_fraction: float = DEFAULT_TEST_FRACTION,
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
    seed: int = DEFAULT_SPLIT_SEED,
    embedder: Any = None,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
) -> ToxicityModel:
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


def fit_label_model(
    examples: Sequence[LabelledText],
    *,
    labels: Sequence[str] = LABELS,
    epochs: float = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SPLIT_SEED,
    embedder: Any = None,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
    states: dict[str, Any] | None = None,
    tuned_layers: int | None = None,
) -> ToxicityModel:
    """A multi-label :class:`~moderation.scoring.toxicity_model.ToxicityModel` fitted on
    examples that each carry some of ``labels`` (the rest are masked out of the loss).

    As :func:`fit_toxicity_model`, with one head output per label: a tenth of each source
    is set aside to fit each label's stack (lexical logit, tuned logit, and the lexical
    logit's positive part: alt-profanity-check is trusted more once it is sure) where that
    label is present (:func:`fit_stacks`, each source counting ``STACK_SOURCE_WEIGHTS``);
    every label's positives are weighted so both classes count equally (at most
    20 to 1). ``states`` caches the lower layers' states by text across calls (one cache
    per ``tuned_layers``: the states below a different layer differ). ``tuned_layers``: how
    many of MiniLM's top layers are fine-tuned (default ``DEFAULT_TUNED_LAYERS``)."""
    import torch

    from moderation.scoring._embedding import Embedder
    from moderation.scoring.lexical import lexical_probabilities
    from moderation.scoring.toxicity_model import (
        DEFAULT_MAX_TOKENS,
        DEFAULT_TUNED_LAYERS,
        ToxicityModel,
        TunedTop,
        round_to_file,
    )

    labels = list(labels)
    if not labels or labels[0] != "toxicity":
        raise ConfigurationError(f"The first label must be 'toxicity', not {labels!r}.")
    fit, stacking = split_for_stacking(examples, seed)
    for label in labels:
        present = [e.positive(label) for e in fit if label in e.labels]
        if len(set(present)) < 2:
            raise ConfigurationError(
                f"Training needs examples with and without label {label!r}; "
                f"{len(present)} carry it, {sum(bool(p) for p in present)} positive."
            )
    torch.manual_seed(seed)
    embedder = embedder or Embedder()
    tuned_layers = DEFAULT_TUNED_LAYERS if tuned_layers is None else tuned_layers
    depth = len(embedder.transformer.encoder.layer)
    if not 1 <= tuned_layers <= depth:
        raise ConfigurationError(
            f"Option --tuned-layers has value {tuned_layers}: MiniLM has layers 1 to {depth}."
        )
    first_layer = depth - tuned_layers
    top = TunedTop.from_embedder(embedder, first_layer, len(labels))
    cache = {} if states is None else states
    encode_into(cache, embedder, [e.text for e in fit + stacking], first_layer, progress)
    targets = torch.full((len(fit), len(labels)), float("nan"))
    for row, example in enumerate(fit):
        for column, label in enumerate(labels):
            if label in example.labels:
                targets[row, column] = example.labels[label]
    _fine_tune(
        top, [cache[e.text] for e in fit], targets, epochs=epochs, seed=seed, progress=progress
    )
    round_to_file(top, embedder, first_layer)  # the stacks are fitted on the model that ships
    model = ToxicityModel(top, first_layer=first_layer, labels=labels)
    logits = model.logits_of_states([cache[e.text] for e in stacking])
    lexical = lexical_probabilities([e.text for e in stacking])
    held_out = fit_stacks(model, stacking, logits, lexical)
    model.metadata = {
        "examples": len(examples),
        "sources": {
            source: sum(e.source == source for e in examples)
            for source in sorted({e.source for e in examples})
        },
        "fine_tuned_on": len(fit),
        "stacking_examples": len(stacking),
        "epochs": epochs,
        "tuned_layers": tuned_layers,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "held_out_roc_auc": held_out,
        "stack_source_weights": dict(STACK_SOURCE_WEIGHTS),
        **(metadata or {}),
    }
    return model


def split_for_stacking(
    examples: Sequence[LabelledText], seed: int
) -> tuple[list[LabelledText], list[LabelledText]]:
    """(fine-tuned on, set aside for the stacks): a tenth of each source set aside."""
    fit: list[LabelledText] = []
    stacking: list[LabelledText] = []
    for source in sorted({e.source for e in examples}):
        group = [e for e in examples if e.source == source]
        part_fit, part_stacking = split(group, seed=seed, test_fraction=STACKING_FRACTION)
        fit += part_fit
        stacking += part_stacking
    return fit, stacking


def restack(
    model: ToxicityModel,
    examples: Sequence[LabelledText],
    *,
    embedder: Any,
    seed: int = DEFAULT_SPLIT_SEED,
    progress: bool = True,
    states: dict[str, Any] | None = None,
) -> None:
    """Fit ``model``'s stacks again (``fit_stacks``, current ``STACK_SOURCE_WEIGHTS``) on
    the examples :func:`fit_label_model` set aside for them from the same ``examples`` and
    ``seed``, keeping its tuned layers: a change to how the stacks are fitted without the
    fine-tuning's half hour."""
    from moderation.scoring.lexical import lexical_probabilities

    _, stacking = split_for_stacking(examples, seed)
    cache = {} if states is None else states
    encode_into(cache, embedder, [e.text for e in stacking], model.first_layer, progress)
    logits = model.logits_of_states([cache[e.text] for e in stacking])
    lexical = lexical_probabilities([e.text for e in stacking])
    model.metadata = {
        **model.metadata,
        "held_out_roc_auc": fit_stacks(model, stacking, logits, lexical),
        "stack_source_weights": dict(STACK_SOURCE_WEIGHTS),
    }


def fit_stacks(
    model: ToxicityModel,
    stacking: Sequence[LabelledText],
    logits: np.ndarray,
    lexical: np.ndarray,
    *,
    source_weights: Mapping[str, float] = STACK_SOURCE_WEIGHTS,
) -> dict[str, dict[str, float]]:
    """Fit each label's stack (``model.stacks``) on the examples set aside for it, their
    tuned ``logits`` (examples, labels) and ``lexical`` probabilities; an example counts
    ``source_weights[its source]`` times (1 if absent) in choosing the stack's direction,
    once in its scale and intercept, each class balanced. Returns each fitted label's ROC-AUC
    there, lexical alone and stacked."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from moderation.scoring.toxicity_model import logit

    held_out: dict[str, dict[str, float]] = {}
    for column, label in enumerate(model.labels):
        rows = [i for i, e in enumerate(stacking) if label in e.labels]
        y = np.array([bool(stacking[i].positive(label)) for i in rows])
        if len(rows) < 10 or y.sum() < 3 or (~y).sum() < 3:
            continue  # too few to fit: the tuned logit alone (the head was balanced)
        z = logit(lexical[rows])
        features = np.column_stack([z, logits[rows, column], np.maximum(z, 0.0)])
        weights = np.array([source_weights.get(stacking[i].source, 1.0) for i in rows])
        second = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced")
        second.fit(features, y, sample_weight=weights)
        a, b, d = (float(v) for v in second.coef_[0])
        intercept = float(second.intercept_[0])
        if (weights != 1.0).any():
            # The weights choose the direction (how the comments rank); the scale and the
            # intercept are fitted again with every comment counting once, so a score means
            # what it meant to the rules' thresholds (Platt scaling of the weighted line).
            line = features @ np.array([a, b, d])
            third = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced")
            third.fit(line[:, None], y)
            k = float(third.coef_[0][0])
            a, b, d, intercept = k * a, k * b, k * d, float(third.intercept_[0])
        model.stacks[column] = (a, b, intercept, d)
        stacked = model.combine(lexical[rows], logits[rows, column], label)
        held_out[label] = {
            "rows": len(rows),
            "lexical": round(float(roc_auc_score(y, lexical[rows])), 4),
            "stacked": round(float(roc_auc_score(y, stacked)), 4),
        }
    return held_out


def encode_into(
    cache: dict[str, Any], embedder: Any, texts: Sequence[str], first_layer: int, progress: bool
) -> None:
    """Add the lower layers' states of the ``texts`` that ``cache`` lacks."""
    from moderation.scoring.toxicity_model import DEFAULT_MAX_TOKENS

    missing = sorted({t for t in texts if t not in cache})
    if missing:
        computed = bottom_states_with_progress(
            embedder, missing, first_layer=first_layer, max_tokens=DEFAULT_MAX_TOKENS,
            progress=progress,
        )  # fmt: skip
        cache.update(zip(missing, computed, strict=True))


def _fine_tune(
    top: Any,
    states: Sequence[Any],
    labels: Sequence[int] | torch.Tensor,
    *,
    epochs: float,
    seed: int,
    progress: bool,
) -> None:
    """Train ``top`` on cached lower-layer states: AdamW, batches of 32 of similar length,
    warm-up then linear decay, each label's positives weighted so both classes count
    equally (at most 20 to 1 either way). ``labels``: 0/1 per state, or a (states, outputs)
    tensor of targets in [0, 1], NaN where a state's source does not carry the label."""
    import torch

    from moderation.offline.progress import progress_bar

    y = torch.as_tensor(labels, dtype=torch.float32)
    if y.dim() == 1:
        y = y[:, None]
    present = ~torch.isnan(y)
    filled = torch.where(present, y, torch.zeros_like(y))
    positive = (filled * present).sum(0) / present.sum(0).clamp(min=1)
    pos_weight = ((1 - positive) / positive.clamp(min=1e-6)).clamp(min=0.05, max=20.0)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
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
    with progress_bar("fine-tuning", total, unit="batches", enabled=progress) as bar:
        while step < total:
            for index in _length_bucketed_batches(states, batch_size, rng):
                if step >= total:
                    break
                hidden, mask = _pad(states, index)
                weight = present[index].float()
                losses = loss_fn(top(hidden, mask), filled[index]) * weight
                loss = losses.sum() / weight.sum().clamp(min=1.0)
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
                optimiser.step()
                schedule.step()
                step += 1
                bar.advance()
                bar.note(f"loss {loss.item():.3f}")
    top.eval()


def bottom_states_with_progress(
    embedder: Any, texts: Sequence[str], *, first_layer: int, max_tokens: int, progress: bool
) -> list[Any]:
    """Each text's MiniLM states below the tuned layer (float16, unpadded), computed once."""
    import torch

    from moderation.offline.progress import progress_bar
    from moderation.scoring.toxicity_model import bottom_states, length_order

    states: list[Any] = [None] * len(texts)
    order = length_order(texts)
    step = 128
    with progress_bar("encoding", len(texts), enabled=progress) as bar:
        for start in range(0, len(order), step):
            index = order[start : start + step]
            hidden, mask = bottom_states(
                embedder, [texts[i] for i in index], first_layer=first_layer, max_tokens=max_tokens
            )
            lengths = mask.sum(1).tolist()
            for row, i in enumerate(index):
                states[i] = hidden[row, : int(lengths[row])].to(torch.float16).cpu()
            bar.advance(len(index))
    return states


def _length_bucketed_batches(
    states: Sequence[Any], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches of similar lengths (less padding), in a shuffled order."""
    order = list(range(len(states)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), batch_size * 50):
        chunk = sorted(order[start : start + batch_size * 50], key=lambda i: states[i].shape[0])
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad(states: Sequence[Any], index: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
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
def run_train(args: argparse.Namespace) -> int:
    """``moderation train``: refit the toxicity model, the relevance calibration
    (``--fit-relevance``), or write the development splits (``--prepare-splits``)."""
    if args.fit_relevance:
        from moderation.offline.calibration import fit_relevance_calibration
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
    if args.shared:
        return run_shared_train(args)
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
        epochs=DEFAULT_EPOCHS if args.epochs is None else args.epochs,
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


def shared_training_set(
    data_dir: Path, *, hold_out: Sequence[str] = (), cap: int = DEFAULT_SOURCE_TRAIN_CAP
) -> list[LabelledText]:
    """The training parts (fixed seed: the fifth ``eval --shared`` tests on stays out) of
    every trainable shared source but ``hold_out``, each sampled down to ``cap``."""
    from moderation.offline.source_eval import training_part
    from moderation.offline.sources import EVALUATION_ONLY, READERS, shared_sources

    check_sources(hold_out, "--hold-out")
    names = [n for n in READERS if n not in EVALUATION_ONLY and n not in hold_out]
    examples: list[LabelledText] = []
    for found in shared_sources(data_dir, names).values():
        part = training_part(found)
        if len(part) > cap:
            part = random.Random(7).sample(part, cap)
        examples += part
    if not examples:
        raise ConfigurationError(f"No trainable shared source found under {data_dir}.")
    return examples


def run_shared_train(args: argparse.Namespace) -> int:
    """``moderation train --shared DATA_DIR``: the multi-label model from the shared
    sources; with ``--cross-source OUT``, one model per source left out, each judged on
    the source it never saw (written to OUT, nothing shipped)."""
    from moderation.offline.sources import EVALUATION_ONLY, READERS
    from moderation.scoring._embedding import Embedder
    from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH

    data_dir = Path(args.shared)
    if not data_dir.is_dir():
        raise ConfigurationError(f"Option --shared has value {args.shared!r}: not a directory.")
    check_sources(args.hold_out or [], "--hold-out")
    if args.perspective_scale:
        from moderation.offline.perspective_scale import run_perspective_scale

        return run_perspective_scale(args, data_dir)
    embedder = Embedder()
    cache = _load_states(args.states_cache)
    if args.epochs is None:
        args.epochs = DEFAULT_SHARED_EPOCHS
    if args.cross_source:
        return _cross_source(args, data_dir, embedder, cache)
    hold_out = list(args.hold_out or [])
    examples = shared_training_set(data_dir, hold_out=hold_out, cap=args.train_cap)
    out = Path(args.out) if args.out else DEFAULT_MODEL_PATH
    if args.restack:
        from moderation.scoring.toxicity_model import ToxicityModel

        model = ToxicityModel.load(Path(args.restack), embedder)
        restack(model, examples, embedder=embedder, seed=args.seed, progress=not args.quiet,
                states=cache)  # fmt: skip
        _save_states(args.states_cache, cache)
        model.save(out, embedder)
        print(
            f"wrote {out} ({args.restack}'s tuned layers, stacks fitted again on the "
            "set-aside comments; held-out ROC-AUC "
            f"{json.dumps(model.metadata['held_out_roc_auc'])})"
        )
        return 0
    model = fit_label_model(
        examples,
        epochs=args.epochs,
        seed=args.seed,
        embedder=embedder,
        progress=not args.quiet,
        states=cache,
        tuned_layers=args.tuned_layers,
        metadata={
            "command": "moderation train --shared DATA_DIR"
            + "".join(f" --hold-out {name}" for name in hold_out)
            + (
                f" --tuned-layers {args.tuned_layers}"
                if args.tuned_layers != DEFAULT_TUNED_LAYERS
                else ""
            ),
            "held_out_sources": sorted(set(hold_out) | (set(READERS) & EVALUATION_ONLY)),
            "seed": args.seed,
            "train_cap": args.train_cap,
        },
    )
    _save_states(args.states_cache, cache)
    model.save(out, embedder)
    print(
        f"wrote {out} ({len(examples)} examples from {', '.join(model.metadata['sources'])}; "
        f"labels {', '.join(model.labels)}; held-out ROC-AUC "
        f"{json.dumps(model.metadata['held_out_roc_auc'])})"
    )
    return 0


def _load_states(path: str | None) -> dict[str, Any]:
    """``--states-cache``: the lower layers' states of texts encoded by an earlier run (each
    text's states depend only on it and the shipped MiniLM, so they can be reused)."""
    if not path or not Path(path).exists():
        return {}
    import torch

    try:
        cache = torch.load(path, weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise ConfigurationError(f"Option --states-cache: {path} cannot be read ({exc}).") from exc
    if not isinstance(cache, dict):
        raise ConfigurationError(f"Option --states-cache: {path} does not hold text states.")
    return cache


def _save_states(path: str | None, cache: dict[str, Any]) -> None:
    if path:
        import torch

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(cache, path)


def _cross_source(
    args: argparse.Namespace, data_dir: Path, embedder: Any, cache: dict[str, Any]
) -> int:
    from moderation.offline.evaluation import load_ruleset
    from moderation.offline.source_eval import evaluate_shared
    from moderation.offline.sources import EVALUATION_ONLY, READERS, shared_sources
    from moderation.scoring.lexical import OfflineToxicityScorer
    from moderation.settings import get_settings

    ruleset = load_ruleset(Path(args.rules) if args.rules else get_settings().rules)
    names = [n for n in READERS if n not in EVALUATION_ONLY]
    report: list[dict[str, Any]] = []
    for held in names:
        if not shared_sources(data_dir, [held]):
            continue  # not in this copy of the data: nothing to judge it on
        examples = shared_training_set(data_dir, hold_out=[held], cap=args.train_cap)
        model = fit_label_model(
            examples, epochs=args.epochs, seed=args.seed, embedder=embedder,
            progress=not args.quiet, states=cache,
        )  # fmt: skip
        scorer = OfflineToxicityScorer(embedder=embedder, model=model)
        rows = evaluate_shared(
            data_dir, scorer, ruleset=ruleset, names=[held], trained_on=set(), cap=args.test_cap,
            progress=not args.quiet,
        )  # fmt: skip
        for row in rows:
            row["trained_on_sources"] = sorted(model.metadata["sources"])
            report.append(row)
            print(json.dumps(row), flush=True)
        _save_states(args.states_cache, cache)
    Path(args.cross_source).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.cross_source} ({len(report)} sources, each left out of its model)")
    return 0
