"""``score_fn_from_settings``: the scorers behind ``moderation rules test``."""

from __future__ import annotations

from moderation.scoring.quick import score_fn_from_settings
from moderation.settings import Settings


def test_score_fn_takes_the_policy_testers_arguments():
    score = score_fn_from_settings(Settings(scorers="spam"))
    assert score.labels == ("spam",)
    scores = score("Buy now at cheap-pills.biz!", "A title", "A body", None)
    assert set(scores) == {"spam"} and scores["spam"] > 0.9
    assert score("A calm remark.")["spam"] < 0.1
