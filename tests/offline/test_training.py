"""``moderation train``: the development splits, and refitting the toxicity model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.cli import build_parser
from moderation.exceptions import ConfigurationError
from moderation.offline.training import _kaggle_text
from tests.conftest import shared_data


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_kaggle_escapes_are_decoded():
    assert _kaggle_text(r'"caf\xc3\xa9\nit\'s \u2019ok\xa0"') == "café\nit's ’ok\ufffd"


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
