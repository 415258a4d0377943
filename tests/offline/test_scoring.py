"""``score_fn_from_settings``: the scorers behind ``moderation rules test``."""

from __future__ import annotations

from moderation.cli import build_parser
from moderation.offline.scoring import score_fn_from_settings
from moderation.settings import Settings

SPAM = "Buy now at cheap-pills.biz!"


def test_score_fn_takes_the_policy_testers_arguments_and_judges_each_text_alone():
    score = score_fn_from_settings(Settings(scorers="spam"))
    assert score.labels == ("spam",)
    scores = score(SPAM, "A title", "A body", None)
    assert set(scores) == {"spam"} and scores["spam"] > 0.9
    assert score("A calm remark.")["spam"] < 0.1
    # Its own Redis is emptied before each text: a repeat is not counted as a duplicate post.
    repeat = "The council should publish the full budget before the vote."
    assert score(repeat) == score(repeat) == score(repeat)
    # The one `rules test` is given.
    args = build_parser().parse_args(["rules", "test"])
    assert args.func.keywords["build_score_fn"].__name__ == "_rules_score_fn"
