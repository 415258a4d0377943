"""What a worker builds once: how many torch threads it takes, and what a failed load
reports and keeps."""

from __future__ import annotations

import pytest

from moderation.settings import Settings
from workers.runtime import SCORER_LOADS_KEY, LoadError, RuntimeLoader, torch_threads


def test_workers_share_the_cores():
    assert torch_threads(Settings(_env_file=None, workers=1), cores=2) == 2
    assert torch_threads(Settings(_env_file=None, workers=2), cores=2) == 1
    assert torch_threads(Settings(_env_file=None, workers=3), cores=16) == 5
    assert torch_threads(Settings(_env_file=None, workers=4), cores=2) == 1  # at least one
    assert torch_threads(Settings(_env_file=None, workers=0), cores=8) == 8  # workers elsewhere


def test_the_setting_overrides():
    assert torch_threads(Settings(_env_file=None, workers=2, torch_threads=3), cores=2) == 3


def test_a_model_that_fails_to_load_is_a_scorers_load_error(settings, redis_conn, tmp_path):
    missing = tmp_path / "missing.ckpt"
    bad = settings.model_copy(
        update={"toxicity_backend": "detoxify:original", "detoxify_checkpoint": missing}
    )
    with pytest.raises(LoadError) as err:
        RuntimeLoader(bad, redis_conn).build()
    assert err.value.step == "scorers"
    assert str(err.value).startswith(
        f"ModelUnavailableError: Detoxify checkpoint '{missing}' "
        "(MODERATION_DETOXIFY_CHECKPOINT) does not exist."
    )
    assert redis_conn.hgetall(SCORER_LOADS_KEY) == {}  # nothing loaded, nothing counted


def test_rules_that_fail_keep_the_loaded_scorers_for_the_next_try(settings, redis_conn, tmp_path):
    rules = tmp_path / "rules.yaml"
    rule = "{id: s, when: {score: spm, gte: 0.5}, action: reject}"
    rules.write_text(f"default: {{action: approve}}\nrules:\n  - {rule}\n")
    spam_only = settings.model_copy(update={"scorers": "spam", "rules": rules})
    loader = RuntimeLoader(spam_only, redis_conn)
    with pytest.raises(LoadError) as err:
        loader.build()
    assert err.value.step == "rules"
    assert str(err.value) == (
        f"{rules}:3:20: unknown score 'spm' in rules[0].when.score; active scorers produce: spam"
    )
    scorers = loader.scorers
    assert scorers is not None and scorers.labels == ("spam",)
    rules.write_text(rules.read_text().replace("spm", "spam"))
    runtime = loader.build()
    try:
        assert runtime.scorers is scorers
        assert runtime.rulebook.active_version == runtime.rulebook.ruleset.version
        assert list(redis_conn.hgetall(SCORER_LOADS_KEY).values()) == [b"1"]
    finally:
        runtime.engine.dispose()
