"""The map to Perspective's levels: the map itself, its fit, the file's errors, loading, the
shipped file, and what the analyzer answers with it."""

from __future__ import annotations

import hashlib
import json
import logging
import random

import pytest

from moderation.exceptions import ConfigurationError
from moderation.perspective.analyzer import Job, client_scale, score_jobs
from moderation.perspective.scale import (
    NATIVE,
    ScoreMap,
    _sha256_of,
    file_sha256,
    fit_map,
    load_scale,
    parse_scale,
    scale_document,
)
from moderation.policy import load_rules
from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH, DEFAULT_SCALE_PATH, model_labels
from tests.conftest import ROOT

SHA = "a" * 64


def _document(**changes: object) -> dict:
    document = {
        "format": "perspective-scale/1",
        "model_sha256": SHA,
        "fitted_on": "a test",
        "maps": {"threat": {"attribute": "THREAT", "x": [0, 0.5, 1], "y": [0, 0.1, 1]}},
    }
    document.update(changes)
    return document


def test_a_map_is_linear_between_its_knots_and_keeps_scores_in_0_1():
    threat = ScoreMap((0.0, 0.5, 1.0), (0.0, 0.1, 1.0))
    assert threat(0.0) == 0.0 and threat(1.0) == 1.0
    assert threat(0.25) == pytest.approx(0.05)
    assert threat(0.75) == pytest.approx(0.55)
    assert threat(0.5) == pytest.approx(0.1)
    assert threat(-0.2) == 0.0 and threat(1.7) == 1.0


def test_a_scale_maps_the_scores_it_has_a_map_for_and_keeps_the_others():
    scale = parse_scale(json.dumps(_document()))
    assert scale.apply({"threat": 0.75, "spam": 0.75}) == pytest.approx(
        {"threat": 0.55, "spam": 0.75}
    )
    assert NATIVE.apply({"threat": 0.75}) == {"threat": 0.75}


def test_the_fitted_map_gives_the_other_sides_quantiles_and_keeps_the_order():
    rng = random.Random(3)
    ours = [rng.random() ** 0.3 for _ in range(2000)]  # most scores high (a rare label)
    theirs = [rng.random() ** 3 for _ in range(2000)]  # most low
    fitted = fit_map(ours, theirs)
    mapped = sorted(fitted(v) for v in ours)
    target = sorted(theirs)
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert mapped[int(q * 2000)] == pytest.approx(target[int(q * 2000)], abs=0.03)
    order = sorted(range(2000), key=lambda i: ours[i])
    assert [fitted(ours[i]) for i in order] == sorted(fitted(v) for v in ours)  # ranks kept
    assert len(fitted.x) == 21


def test_ties_and_scores_piled_at_0_or_1_still_give_a_strictly_increasing_map():
    fitted = fit_map([0.0] * 50 + [1.0] * 50, [0.2] * 60 + [0.9] * 40)
    for knots in (fitted.x, fitted.y):
        assert knots[0] == 0.0 and knots[-1] == 1.0
        assert all(b > a for a, b in zip(knots, knots[1:], strict=False))
    text = scale_document(
        {"threat": ("THREAT", fitted)}, model_sha256=SHA, fitted_on="ties", command=""
    )
    assert parse_scale(text).maps["threat"] == fitted


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            _document(format="perspective-scale/9"),
            "scale.json: format: Input should be 'perspective-scale/1'",
        ),
        (
            _document(model_sha256="abc"),
            "scale.json: model_sha256: String should match pattern '^[0-9a-f]{64}$'",
        ),
        (
            _document(
                maps={
                    "threat": {"attribute": "THREAT", "x": [0, 0.6, 0.5, 1], "y": [0, 0.1, 0.2, 1]}
                }
            ),
            "scale.json: maps.threat.x: Value error, must increase strictly (0.6 then 0.5)",
        ),
        (
            _document(maps={"threat": {"attribute": "THREAT", "x": [0, 1], "y": [0, 0.5, 1]}}),
            "scale.json: maps.threat: Value error, x has 2 knots and y 3: they must match",
        ),
        (
            _document(maps={"threat": {"attribute": "THREAT", "x": [0.1, 1], "y": [0, 1]}}),
            "scale.json: maps.threat.x: Value error, must run from 0 to 1",
        ),
        (
            _document(maps={}),
            "scale.json: maps: Dictionary should have at least 1 item after validation, not 0",
        ),
    ],
)
def test_a_bad_file_names_the_field_and_what_is_wrong(document, message):
    with pytest.raises(ConfigurationError) as caught:
        parse_scale(json.dumps(document), "scale.json")
    assert str(caught.value) == message


def test_every_error_of_a_file_is_reported_at_once():
    document = _document(format="x", fitted_on="")
    with pytest.raises(ConfigurationError) as caught:
        parse_scale(json.dumps(document), "scale.json")
    assert str(caught.value).splitlines() == [
        "scale.json: format: Input should be 'perspective-scale/1'",
        "scale.json: fitted_on: String should have at least 1 character",
    ]


def test_a_file_that_is_not_json_names_the_line_and_column():
    with pytest.raises(ConfigurationError) as caught:
        parse_scale('{\n  "format": perspective\n}', "scale.json")
    assert str(caught.value) == "scale.json:2:13: not valid JSON: Expecting value"


def test_a_map_fitted_for_another_model_is_not_used(tmp_path, caplog):
    model = tmp_path / "model.npz"
    model.write_bytes(b"the weights")
    path = tmp_path / "model.perspective.json"
    assert load_scale(path, model) is NATIVE  # no file: nothing to map by
    path.write_text(json.dumps(_document(model_sha256=file_sha256(model))))
    assert set(load_scale(path, model).maps) == {"threat"}
    model.write_bytes(b"retrained weights")
    with caplog.at_level(logging.WARNING, logger="moderation.perspective.scale"):
        assert load_scale(path, model) is NATIVE
    assert "moderation train --shared DATA --perspective-scale" in caplog.text


def test_a_model_files_digest_is_read_once_until_the_file_changes(tmp_path):
    model = tmp_path / "model.npz"
    model.write_bytes(b"the weights")
    first = file_sha256(model)
    misses = _sha256_of.cache_info().misses
    assert file_sha256(model) == first == hashlib.sha256(b"the weights").hexdigest()
    assert _sha256_of.cache_info().misses == misses  # not read again
    model.write_bytes(b"retrained weights")
    assert file_sha256(model) == hashlib.sha256(b"retrained weights").hexdigest()


def test_the_shipped_map_is_the_shipped_models_and_covers_its_labels():
    scale = load_scale(DEFAULT_SCALE_PATH, DEFAULT_MODEL_PATH)
    assert scale.model_sha256 == file_sha256(DEFAULT_MODEL_PATH)
    assert set(scale.maps) == set(model_labels(DEFAULT_MODEL_PATH))
    report = json.loads(DEFAULT_SCALE_PATH.read_text())["held_out"]
    # On the comments held out from both the model and the map: closer to Perspective.
    for row in report:
        assert row["mean_distance"]["mapped"] < row["mean_distance"]["model"], row["label"]


def test_the_setting_chooses_the_scale_and_detoxify_keeps_its_own(settings):
    assert set(client_scale(settings).maps) == set(model_labels(DEFAULT_MODEL_PATH))
    assert client_scale(settings.model_copy(update={"perspective_scale": "model"})) is NATIVE
    detoxify = settings.model_copy(update={"toxicity_backend": "detoxify:original"})
    assert client_scale(detoxify) is NATIVE


def test_the_rules_decide_on_the_models_scores_and_the_client_gets_perspectives():
    from moderation.perspective.analyzer import load_models, model_key, shared_load
    from moderation.settings import Settings

    settings = Settings(_env_file=None, perspective_enabled=True)
    load = shared_load(model_key(settings), lambda: load_models(settings))
    load.start()
    assert load.done.wait(300) and load.models is not None, load.error
    models, scale = load.models, client_scale(settings)
    rules = load_rules(ROOT / "rules" / "default.yaml")
    jobs = [Job(text="I will find you and hurt you, you idiot", spans=True, rules=True)]
    native = score_jobs(models.scorers, jobs, lambda: rules)[0]
    mapped = score_jobs(models.scorers, jobs, lambda: rules, scale=scale)[0]
    assert mapped.scores == native.scores and mapped.decision == native.decision
    assert native.client_scores == native.scores
    for name, value in native.scores.items():
        assert mapped.client_scores[name] == pytest.approx(scale.value(name, value))
    assert mapped.client_scores["threat"] != pytest.approx(native.scores["threat"], abs=1e-3)
    assert [(a, b) for a, b, _ in mapped.spans] == [(a, b) for a, b, _ in native.spans]
    assert [v for _, _, v in mapped.spans] == pytest.approx(
        [scale.value("toxicity", v) for _, _, v in native.spans]
    )
