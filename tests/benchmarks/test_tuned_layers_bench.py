"""The tuned-layers benchmark must not rot: two model files, alternating rounds, one ratio
(its figures are checked for shape and sanity here, never for speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.tuned_layers import main
from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH

pytestmark = pytest.mark.slow


def test_the_same_model_twice_gives_one_row_each_and_a_ratio(tmp_path: Path, capsys):
    out = tmp_path / "tuned_layers.json"
    args = [str(DEFAULT_MODEL_PATH), str(DEFAULT_MODEL_PATH), "--comments", "16", "--rounds", "2"]
    assert main([*args, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["comments"] == 16 and result["rounds"] == 2
    assert [row["model"] for row in result["models"]] == [DEFAULT_MODEL_PATH.name] * 2
    for row in result["models"]:
        assert len(row["seconds"]) == 2 and all(s > 0 for s in row["seconds"])
        assert row["comments_per_s"] > 0 and row["tuned_layers"] >= 1
    assert result["rate_ratio_b_over_a"] > 0
    assert f"wrote {out}" in capsys.readouterr().out
