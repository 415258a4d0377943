"""What a worker builds once: here, how many torch threads it takes."""

from __future__ import annotations

from moderation.settings import Settings
from workers.runtime import torch_threads


def test_workers_share_the_cores():
    assert torch_threads(Settings(_env_file=None, workers=1), cores=2) == 2
    assert torch_threads(Settings(_env_file=None, workers=2), cores=2) == 1
    assert torch_threads(Settings(_env_file=None, workers=3), cores=16) == 5
    assert torch_threads(Settings(_env_file=None, workers=4), cores=2) == 1  # at least one
    assert torch_threads(Settings(_env_file=None, workers=0), cores=8) == 8  # workers elsewhere


def test_the_setting_overrides():
    assert torch_threads(Settings(_env_file=None, workers=2, torch_threads=3), cores=2) == 3
