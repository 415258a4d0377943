"""Fitting the map to Perspective's levels (``moderation train --shared DATA
--perspective-scale``), with a scorer of known scores."""

from __future__ import annotations

import random

import pytest

from moderation.cli import main
from moderation.offline.perspective_scale import ANSWERED_AS, fit_scale, format_report
from moderation.offline.sources import LabelledText


def _comments(n: int, seed: int) -> list[LabelledText]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        threat = rng.random() ** 4  # Perspective: mostly low
        out.append(LabelledText(f"comment {seed}-{i}", "perspective", {"threat": threat}))
    return out


def _score(texts):
    # A model whose threat is Perspective's, pushed up (same order, other levels), and
    # which also has a label Perspective does not answer.
    table = {e.text: e.labels["threat"] for e in TRAIN + TEST}
    return [{"threat": table[t] ** 0.25, "other": 0.5} for t in texts]


TRAIN, TEST = _comments(800, 1), _comments(200, 2)


def test_the_map_brings_the_models_levels_to_perspectives_on_held_out_comments():
    maps, report = fit_scale(TRAIN, TEST, _score, ["threat", "other"])
    assert set(maps) == {"threat"}  # "other" is not Perspective's
    attribute, fitted = maps["threat"]
    assert attribute == "THREAT"
    (row,) = report
    assert row["label"] == "threat" and row["comments"] == 200
    assert row["mean_distance"]["mapped"] < 0.02 < 0.25 < row["mean_distance"]["model"]
    for threshold in ("0.5", "0.8"):
        share = row[f"share_at_{threshold}"]
        assert share["mapped"] == pytest.approx(share["perspective"], abs=0.03)
        assert share["model"] > 2 * share["perspective"]  # the model flags far more
    table = format_report(report).splitlines()
    assert table[0].startswith("| label (Perspective attribute) | mean distance")
    assert table[2].startswith("| threat (THREAT) | ")


def test_a_scorer_without_perspectives_labels_is_refused():
    from moderation.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"include none of Perspective's"):
        fit_scale(TRAIN, TEST, _score, ["other"])


def test_every_label_is_read_from_the_attribute_the_api_answers_it_as():
    from moderation.perspective.attributes import load_table

    answered = {a.score: a.name for a in load_table() if a.source == "score"}
    for label, column in ANSWERED_AS.items():
        assert column.partition("@")[0] == answered[label]


def test_the_command_says_when_the_data_has_no_perspective_scores(tmp_path, capsys):
    code = main(["train", "--shared", str(tmp_path), "--perspective-scale"])
    assert code == 1
    assert capsys.readouterr().err == (
        f"moderation: error: Option --shared has value {str(tmp_path)!r}: it holds no "
        "hate/perspective_scores_wikipedia_1k.csv (Perspective's own scores) to fit on.\n"
    )
