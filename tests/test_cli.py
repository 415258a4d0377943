"""The ``moderation`` command: every command registered, the offline ones imported lazily."""

from __future__ import annotations

import subprocess
import sys

from moderation import cli

COMMANDS = ("serve", "worker", "db", "demo", "rules", "eval", "train")


def test_help_lists_every_command():
    parser = cli.build_parser()
    help_text = parser.format_help()
    for command in COMMANDS:
        assert f"\n    {command} " in help_text, command
    assert "db upgrade|revision; rules check|test|diff|backtest" in help_text
    for argv in (["eval", "f.csv"], ["train", "f.csv"], ["rules", "backtest", "r.yaml"]):
        assert callable(parser.parse_args(argv).func)


def test_building_the_parser_imports_no_offline_tool():
    code = (
        "import sys; from moderation.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.startswith('moderation.offline')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
