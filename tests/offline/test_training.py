"""``moderation train``: the development splits, and refitting the toxicity model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.cli import build_parser
from moderation.exceptions import ConfigurationError
from moderation.offline.sources import LabelledText, kaggle_text
from moderation.scoring.base import ArticleInput, CommentInput
from tests.conftest import shared_data


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_kaggle_escapes_are_decoded():
    assert kaggle_text(r'"caf\xc3\xa9\nit\'s \u2019ok\xa0"') == "café\nit's ’ok\ufffd"


def test_prepare_splits(tmp_path: Path, capsys):
    data = shared_data()
    shared_data("toxicity", "davidson_labeled_data.csv")
    assert _run(["train", "--prepare-splits", str(data), "--out-dir", str(tmp_path)]) == 0
    train = (tmp_path / "davidson.train.jsonl").read_text().splitlines()
    test = (tmp_path / "davidson.test.jsonl").read_text().splitlines()
    assert len(train) + len(test) == 24783
    assert not {json.loads(r)["text"] for r in train} & {json.loads(r)["text"] for r in test[:200]}
    assert "davidson:" in capsys.readouterr().out


@pytest.mark.slow
def test_train_writes_a_model_the_scorer_loads(tmp_path: Path, capsys):
    data = tmp_path / "train.jsonl"
    rows = [{"text": f"you are a worthless idiot number {i}", "label": 1} for i in range(20)]
    rows += [
        {"text": f"thanks for the careful reporting on item {i}", "label": 0} for i in range(20)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "model.npz"
    assert _run(["train", str(data), "--out", str(out), "--epochs", "3", "--quiet"]) == 0
    assert "held-out ROC-AUC" in capsys.readouterr().out
    from moderation.scoring._embedding import Embedder
    from moderation.scoring.lexical import OfflineToxicityScorer

    scorer = OfflineToxicityScorer.from_files(embedder=Embedder(), model_path=out)
    assert scorer.model is not None
    metadata = scorer.model.metadata
    assert metadata["examples"] == 40 and metadata["stacking_examples"] == 4  # 2 per label
    assert metadata["fine_tuned_on"] == 36 and metadata["files"] == ["train.jsonl"]
    low, high = scorer.predict(["thanks for the reporting", "you worthless idiot"])
    assert low < 0.5 < high


def test_training_needs_two_of_each_label(tmp_path: Path):
    data = tmp_path / "few.jsonl"
    data.write_text(
        '{"text": "a", "label": 1}\n{"text": "b", "label": 1}\n{"text": "c", "label": 0}\n'
    )
    with pytest.raises(ConfigurationError, match="label 0 has 1"):
        _run(["train", str(data), "--out", str(tmp_path / "x.npz"), "--quiet"])


def test_training_needs_both_labels(tmp_path: Path):
    data = tmp_path / "one.jsonl"
    data.write_text('{"text": "a", "label": 1}\n')
    with pytest.raises(ConfigurationError, match="both labels"):
        _run(["train", str(data), "--out", str(tmp_path / "x.npz"), "--quiet"])


def _two_sources() -> list[LabelledText]:
    """``news`` carries toxicity and insult, ``hate`` toxicity and identity_attack and
    threat: each label is taught by the source that carries it, the rest masked."""
    cases = [
        ("news", "you are a worthless idiot, reader", {"toxicity": 1, "insult": 1}),
        ("news", "thanks for the careful reporting on item", {"toxicity": 0, "insult": 0}),
        (
            "hate",
            "those people are vermin and must be driven out",
            {"toxicity": 1, "identity_attack": 1, "threat": 0},
        ),
        (
            "hate",
            "we will find you at home and hurt you",
            {"toxicity": 1, "identity_attack": 0, "threat": 1},
        ),
        (
            "hate",
            "the new library opens on main street in week",
            {"toxicity": 0, "identity_attack": 0, "threat": 0},
        ),
    ]
    examples = [
        LabelledText(f"{text} {i}", source, {k: float(v) for k, v in labels.items()})
        for i in range(24)
        for source, text, labels in cases
    ]
    return examples


@pytest.mark.slow
def test_a_multi_label_model_learns_each_label_from_the_sources_that_carry_it(tmp_path: Path):
    from moderation.offline.training import fit_label_model
    from moderation.scoring._embedding import Embedder
    from moderation.scoring.lexical import OfflineToxicityScorer
    from moderation.scoring.toxicity_model import ToxicityModel, model_labels

    embedder = Embedder()
    labels = ("toxicity", "threat", "insult", "identity_attack")
    model = fit_label_model(
        _two_sources(), labels=labels, epochs=4, embedder=embedder, progress=False
    )
    assert model.metadata["sources"] == {"hate": 72, "news": 48}
    out = tmp_path / "model.npz"
    model.save(out, embedder)
    assert model_labels(out) == labels
    scorer = OfflineToxicityScorer(embedder=embedder, model=ToxicityModel.load(out, embedder))
    assert scorer.labels == labels
    texts = [
        "we will find you at home and hurt you",
        "those people are vermin and must be driven out",
        "you are a worthless idiot",
        "thanks for the careful reporting",
    ]
    article = ArticleInput(id="a", title="", body="")
    results = scorer.score([CommentInput(str(i), t, "u", article) for i, t in enumerate(texts)])
    threat, vermin, idiot, thanks = (r.scores for r in results)
    assert set(threat) == set(labels)
    assert threat["threat"] > max(vermin["threat"], thanks["threat"])
    assert vermin["identity_attack"] > max(threat["identity_attack"], thanks["identity_attack"])
    assert idiot["insult"] > thanks["insult"]
    assert thanks["toxicity"] < 0.5 < min(threat["toxicity"], vermin["toxicity"], idiot["toxicity"])


@pytest.mark.slow
def test_restacking_keeps_the_tuned_layers_and_refits_the_stacks_as_training_did(tmp_path: Path):
    import numpy as np
    import torch

    from moderation.offline.training import fit_label_model, fit_stacks, restack
    from moderation.scoring._embedding import Embedder
    from moderation.scoring.toxicity_model import ToxicityModel

    embedder = Embedder()
    examples = _two_sources()
    labels = ("toxicity", "threat", "insult", "identity_attack")
    trained = fit_label_model(examples, labels=labels, epochs=1, embedder=embedder, progress=False)
    out = tmp_path / "model.npz"
    trained.save(out, embedder)
    model = ToxicityModel.load(out, embedder)
    model.stacks = [(0.0, 1.0, 0.0, 0.0)] * len(labels)
    restack(model, examples, embedder=embedder, progress=False)
    # The same set-aside comments and weights as training: the same stacks (to float error:
    # training scored the states it had in memory, restacking the ones it encoded again).
    assert np.allclose(model.stacks, trained.stacks, atol=1e-4)
    assert model.metadata["held_out_roc_auc"].keys() == trained.metadata["held_out_roc_auc"].keys()
    assert model.metadata["stack_source_weights"] == {}  # none by default
    as_loaded = ToxicityModel.load(out, embedder).top.state_dict()
    for name, tensor in model.top.state_dict().items():  # the tuned layers are untouched
        assert torch.equal(tensor, as_loaded[name]), name
    # A source's weight moves the stack of the labels it carries, and only those.
    logits = np.zeros((4, len(labels)))
    lexical = np.array([0.9, 0.1, 0.8, 0.2])
    logits[:, 0] = [3.0, -3.0, -1.0, 1.0]
    few = [LabelledText(f"t{i}", s, {"toxicity": y}) for i, (s, y) in
           enumerate([("a", 1.0), ("a", 0.0), ("b", 1.0), ("b", 0.0)])] * 5  # fmt: skip
    stacked = {}
    for weights in ({}, {"b": 10.0}):
        copy = ToxicityModel.load(out, embedder)
        fit_stacks(copy, few, np.tile(logits, (5, 1)), np.tile(lexical, 5), source_weights=weights)
        stacked[len(weights)] = copy.stacks
    assert stacked[0][0] != stacked[1][0] and stacked[0][1:] == stacked[1][1:]


@pytest.mark.slow
def test_a_single_label_model_file_still_loads(tmp_path: Path):
    import numpy as np

    from moderation.scoring._embedding import Embedder
    from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH, ToxicityModel, model_labels

    embedder = Embedder()
    current = ToxicityModel.load(DEFAULT_MODEL_PATH, embedder)
    out = tmp_path / "model.npz"
    current.save(out, embedder)
    with np.load(out) as data:  # rewritten as the first format wrote it: toxicity alone
        arrays = {k: data[k] for k in data.files if k not in ("labels", "stacks")}
    for key in ("delta.head.weight.half", "delta.head.bias.half"):
        arrays[key] = arrays[key][:1]
    arrays["format"] = np.array("minilm-top-int8-delta/1")
    arrays["stack"] = np.asarray(current.stacks[0])
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    assert model_labels(old) == ("toxicity",)
    loaded = ToxicityModel.load(old, embedder)
    assert loaded.labels == ("toxicity",) and loaded.stack == current.stacks[0]
    texts = ["you worthless idiot", "thanks for the reporting"]
    expected = current.predict(embedder, texts, np.array([0.5, 0.1]))
    assert np.allclose(loaded.predict(embedder, texts, np.array([0.5, 0.1])), expected)


@pytest.mark.slow
def test_more_than_the_top_layer_can_be_fine_tuned(tmp_path: Path):
    from moderation.offline.training import fit_label_model
    from moderation.scoring._embedding import Embedder
    from moderation.scoring.lexical import OfflineToxicityScorer
    from moderation.scoring.toxicity_model import ToxicityModel

    embedder = Embedder()
    labels = ("toxicity", "threat", "insult", "identity_attack")
    model = fit_label_model(
        _two_sources(), labels=labels, epochs=1, embedder=embedder, progress=False, tuned_layers=2
    )
    assert model.first_layer == 4 and len(model.top.layers) == 2
    assert model.metadata["tuned_layers"] == 2
    out = tmp_path / "model.npz"
    model.save(out, embedder)
    loaded = ToxicityModel.load(out, embedder)
    assert loaded.first_layer == 4 and len(loaded.top.layers) == 2
    scorer = OfflineToxicityScorer(embedder=embedder, model=loaded)
    article = ArticleInput(id="a", title="", body="")
    [result] = scorer.score([CommentInput("1", "you are a worthless idiot", "u", article)])
    assert set(result.scores) == set(labels)
    assert all(0.0 <= v <= 1.0 for v in result.scores.values())


def test_tuned_layers_must_be_some_of_minilms(tmp_path: Path):
    from moderation.offline.training import fit_label_model
    from moderation.scoring._embedding import Embedder

    labels = ("toxicity", "threat", "insult", "identity_attack")
    with pytest.raises(ConfigurationError, match="--tuned-layers has value 7: MiniLM has layers"):
        fit_label_model(
            _two_sources(), labels=labels, embedder=Embedder(), progress=False, tuned_layers=7
        )
