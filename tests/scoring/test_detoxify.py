"""The Detoxify backend, on a tiny checkpoint loaded through Detoxify's own loading code."""

from __future__ import annotations

import math
import os
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from moderation.exceptions import ModelUnavailableError
from moderation.scoring import build_scorers
from moderation.scoring.detoxify import DetoxifyScorer, load_detoxify, parse_backend
from moderation.settings import Settings
from tests.scoring.conftest import comment

pytestmark = pytest.mark.slow


def _settings(tiny, **extra) -> Settings:
    return Settings(
        scorers="toxicity",
        toxicity_backend="detoxify:unbiased",
        detoxify_checkpoint=tiny.checkpoint,
        detoxify_config_dir=tiny.config_dir,
        **extra,
    )


def _direct_scores(tiny, texts: list[str]) -> torch.Tensor:
    """What the saved model computes, without Detoxify or our scorer in the way."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    saved = torch.load(tiny.checkpoint, map_location="cpu", weights_only=False)
    model = BertForSequenceClassification(BertConfig.from_pretrained(str(tiny.config_dir)))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    tokenizer = BertTokenizer.from_pretrained(str(tiny.config_dir))
    inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=64)
    with torch.no_grad():
        return torch.sigmoid(model(**inputs).logits)


def test_labels_come_from_the_model(tiny_detoxify, tiny_detoxify_original):
    scorers = build_scorers(_settings(tiny_detoxify), redis=None)
    assert scorers.labels == (
        "toxicity",
        "severe_toxicity",
        "obscene",
        "identity_attack",
        "insult",
        "threat",
        "sexual_explicit",
    )
    original = DetoxifyScorer(
        load_detoxify(
            "original",
            checkpoint=tiny_detoxify_original.checkpoint,
            config_dir=tiny_detoxify_original.config_dir,
        )
    )
    # Detoxify renames the original model's classes; there is no sexual_explicit.
    assert original.labels == (
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    )


def test_scores_equal_the_saved_models_own_output(tiny_detoxify):
    scorers = build_scorers(_settings(tiny_detoxify, scoring_batch_size=2), redis=None)
    texts = ["you are an idiot", "thanks for the article", "the deal is good for pakistan"]
    results = scorers.score([comment(t, ident=str(i)) for i, t in enumerate(texts)])
    expected = _direct_scores(tiny_detoxify, texts)
    for row, result in zip(expected, results, strict=True):
        for index, label in enumerate(tiny_detoxify.class_names):
            assert result.scores[label] == pytest.approx(float(row[index]), abs=1e-5)


def test_batches_are_cut_to_the_batch_size(tiny_detoxify):
    scorer = DetoxifyScorer.from_settings(_settings(tiny_detoxify, scoring_batch_size=4))
    calls: list[int] = []
    original = scorer.detoxify.model.forward

    def counting_forward(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    scorer.detoxify.model.forward = counting_forward
    results = scorer.score([comment(f"comment number {i}", ident=str(i)) for i in range(10)])
    assert len(results) == 10
    assert calls == [4, 4, 2]


def test_a_batch_of_one_is_a_list_of_one(tiny_detoxify):
    scorer = DetoxifyScorer.from_settings(_settings(tiny_detoxify))
    [result] = scorer.score([comment("just one comment")])
    assert set(result.scores) == set(scorer.labels)


def test_long_comments_are_truncated(tiny_detoxify):
    scorer = DetoxifyScorer.from_settings(_settings(tiny_detoxify))
    seen: list[int] = []
    original = scorer.detoxify.model.forward

    def counting_forward(*args, **kwargs):
        seen.append(kwargs["input_ids"].shape[1])
        return original(*args, **kwargs)

    scorer.detoxify.model.forward = counting_forward
    long_text = "idiot " * 5000
    [result] = scorer.score([comment(long_text)])
    assert seen == [64]  # the tiny model's 64 positions, not 5,000 words
    assert 0.0 <= result.scores["toxicity"] <= 1.0
    assert scorer.max_tokens == 64


def test_empty_input_makes_no_forward_pass(tiny_detoxify):
    scorer = DetoxifyScorer.from_settings(_settings(tiny_detoxify))
    scorer.detoxify.model.forward = None  # any call would fail
    assert scorer.score([]) == []


def test_occlusion_spans_name_words(tiny_detoxify):
    scorer = DetoxifyScorer.from_settings(_settings(tiny_detoxify))
    scorer.explain_threshold = 0.0
    [result] = scorer.score([comment("you stupid idiot")])
    # Off the decision path: score() leaves them pending, explain() computes them.
    assert result.evidence["toxicity"]["spans"] is None
    assert result.evidence["toxicity"]["spans_pending"] is True
    [spans] = scorer.explain(["you stupid idiot"], [result.scores["toxicity"]])
    for span in spans:
        assert "you stupid idiot"[span["start"] : span["end"]] == span["text"]


def test_the_model_is_loaded_once_per_scorer_set(tiny_detoxify, monkeypatch):
    import detoxify.detoxify as detoxify_module

    loads: list[str] = []
    original = detoxify_module.load_checkpoint

    def counting_load(*args, **kwargs):
        loads.append(str(kwargs.get("checkpoint")))
        return original(*args, **kwargs)

    monkeypatch.setattr(detoxify_module, "load_checkpoint", counting_load)
    scorers = build_scorers(_settings(tiny_detoxify, scoring_batch_size=8), redis=None)
    for _ in range(3):
        scorers.score([comment(f"text {i}", ident=str(i)) for i in range(20)])
    assert loads == [str(tiny_detoxify.checkpoint)]


def test_missing_checkpoint_names_the_settings(tmp_path):
    settings = Settings(
        scorers="toxicity",
        toxicity_backend="detoxify:original",
        detoxify_checkpoint=tmp_path / "nope.ckpt",
    )
    with pytest.raises(ModelUnavailableError) as info:
        build_scorers(settings, redis=None)
    message = str(info.value)
    assert "\n" not in message
    assert f"Detoxify checkpoint '{tmp_path / 'nope.ckpt'}'" in message
    assert "MODERATION_DETOXIFY_CHECKPOINT" in message
    assert "MODERATION_DETOXIFY_CONFIG_DIR" in message
    assert "MODERATION_TOXICITY_BACKEND=offline" in message


def test_failed_download_names_the_settings(monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(ModelUnavailableError) as info:
        build_scorers(
            Settings(scorers="toxicity", toxicity_backend="detoxify:original"), redis=None
        )
    assert str(info.value) == (
        "Detoxify model 'original' could not be loaded by download (no "
        "MODERATION_DETOXIFY_CHECKPOINT set): <urlopen error [Errno -2] Name or service not "
        "known>. Give local weights with MODERATION_DETOXIFY_CHECKPOINT=/path/to/model.ckpt and "
        "MODERATION_DETOXIFY_CONFIG_DIR=/path/to/hf-config-and-tokenizer-dir, or use "
        "MODERATION_TOXICITY_BACKEND=offline (the shipped model)."
    )


def test_unknown_backend_is_refused():
    with pytest.raises(ModelUnavailableError, match="'detoxify:huge'"):
        parse_backend("detoxify:huge")


def test_scorer_set_over_1000_comments_loads_once_and_batches(tiny_detoxify, monkeypatch):
    import detoxify.detoxify as detoxify_module

    loads: list[int] = []
    original_load = detoxify_module.load_checkpoint

    def counting_load(*args, **kwargs):
        loads.append(1)
        return original_load(*args, **kwargs)

    monkeypatch.setattr(detoxify_module, "load_checkpoint", counting_load)
    scorers = build_scorers(_settings(tiny_detoxify, scoring_batch_size=32), redis=None)
    scorer = scorers.get("toxicity")
    forward_calls: list[int] = []
    original_forward = scorer.detoxify.model.forward

    def counting_forward(*args, **kwargs):
        forward_calls.append(kwargs["input_ids"].shape[0])
        return original_forward(*args, **kwargs)

    scorer.detoxify.model.forward = counting_forward
    results = scorers.score([comment(f"comment {i}", ident=str(i)) for i in range(1000)])
    assert len(results) == 1000
    assert len(loads) == 1
    assert len(forward_calls) == math.ceil(1000 / 32)
    assert max(forward_calls) == 32


# --- only checkpoints no other user can change are unpickled ---------------------------------

PICKLE = (
    "Detoxify loads checkpoints with pickle, which runs any code in the file, so only a file "
    "that no other user can change is loaded."
)


def _copy(tiny, directory) -> Path:
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)  # whatever the umask
    copy = directory / "tiny.ckpt"
    shutil.copyfile(tiny.checkpoint, copy)
    copy.chmod(0o644)
    return copy


def _load(checkpoint: Path, tiny):
    return load_detoxify("unbiased", checkpoint=checkpoint, config_dir=tiny.config_dir)


def test_a_checkpoint_only_its_owner_can_write_loads(tiny_detoxify, tmp_path):
    checkpoint = _copy(tiny_detoxify, tmp_path / "weights")
    assert DetoxifyScorer(_load(checkpoint, tiny_detoxify)).labels


@pytest.mark.parametrize(
    "target, mode, who",
    [("file", 0o666, "others"), ("file", 0o664, "its group"), ("directory", 0o777, "others"),
     ("directory", 0o775, "its group")],
)  # fmt: skip
def test_a_checkpoint_others_can_write_is_refused(tiny_detoxify, tmp_path, monkeypatch, target,
                                                  mode, who):  # fmt: skip
    import detoxify.detoxify as detoxify_module

    checkpoint = _copy(tiny_detoxify, tmp_path / "weights")
    path = checkpoint if target == "file" else checkpoint.parent
    path.chmod(mode)
    unpickled: list[object] = []
    monkeypatch.setattr(detoxify_module, "load_checkpoint", lambda **kw: unpickled.append(kw))
    with pytest.raises(ModelUnavailableError) as info:
        _load(checkpoint, tiny_detoxify)
    assert str(info.value) == (
        f"Detoxify checkpoint '{checkpoint}' (MODERATION_DETOXIFY_CHECKPOINT) is refused: "
        f"its {target} '{path}' is writable by {who} (mode {mode:04o}); "
        f"run chmod go-w '{path}'. {PICKLE}"
    )
    assert unpickled == []  # refused before Detoxify opened it


def test_a_link_to_a_checkpoint_is_judged_by_the_file_and_the_link(tiny_detoxify, tmp_path):
    checkpoint = _copy(tiny_detoxify, tmp_path / "weights")
    shared = tmp_path / "shared"
    shared.mkdir()
    link = shared / "model.ckpt"
    link.symlink_to(checkpoint)
    shared.chmod(0o755)
    assert _load(link, tiny_detoxify) is not None
    shared.chmod(0o1777)  # like /tmp: anyone could replace the link
    with pytest.raises(ModelUnavailableError) as info:
        _load(link, tiny_detoxify)
    assert str(info.value).startswith(
        f"Detoxify checkpoint '{link}' (resolved to '{checkpoint}') "
        f"(MODERATION_DETOXIFY_CHECKPOINT) is refused: its link's directory '{shared}' is "
        "writable by others (mode 1777)"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_checkpoint_of_another_user_is_refused(tiny_detoxify, tmp_path):
    checkpoint = _copy(tiny_detoxify, tmp_path / "weights")
    os.chown(checkpoint, 4321, -1)
    with pytest.raises(ModelUnavailableError) as info:
        _load(checkpoint, tiny_detoxify)
    assert str(info.value) == (
        f"Detoxify checkpoint '{checkpoint}' (MODERATION_DETOXIFY_CHECKPOINT) is refused: "
        f"its file '{checkpoint}' belongs to user id 4321, not to this service's user (0) or "
        f"root. {PICKLE}"
    )
