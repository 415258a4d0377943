"""The Rulebook watches every file the rules came from, refuses a broken file, keeps the last
good version, and stores every version that became active."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from moderation import rulebook as rulebook_module
from moderation.db.models import RulesVersion
from moderation.policy import load_rules
from moderation.rulebook import Rulebook
from tests.conftest import ROOT

GOOD = ROOT / "tests" / "policy" / "fixtures" / "good"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tests/policy/fixtures/good (site.yaml extends base.yaml, which includes a word list)."""
    shutil.copytree(GOOD, tmp_path / "good")
    return tmp_path / "good" / "site.yaml"


def touch_later(path: Path, text: str) -> None:
    """Write, and move the mtime on so that a coarse clock cannot hide the change."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_a_changed_file_anywhere_in_the_chain_is_picked_up(site, session_factory):
    book = Rulebook(site, session_factory=session_factory, check_interval=0)
    v1 = book.load().version
    assert book._watched() == [site, site.parent / "base.yaml", site.parent / "words/insults.txt"]
    assert book.current().version == v1

    words = site.parent / "words" / "insults.txt"
    touch_later(words, words.read_text() + "buffoon\n")
    v2 = book.current().version
    assert v2 != v1

    base = site.parent / "base.yaml"
    touch_later(base, base.read_text().replace("gte: 0.9", "gte: 0.95"))
    v3 = book.current().version
    assert v3 not in (v1, v2)

    with session_factory() as session:
        stored = {row.hash: row.sources for row in session.scalars(select(RulesVersion))}
    assert set(stored) == {v1, v2, v3}
    # Each version keeps the text of every file it was built from, as it was then.
    assert all(list(sources) == [str(f) for f in book._watched()] for sources in stored.values())
    assert "buffoon" not in stored[v1][str(words)] and "buffoon" in stored[v2][str(words)]
    assert "gte: 0.95" in stored[v3][str(base)] and "gte: 0.95" not in stored[v2][str(base)]


def test_a_broken_file_is_refused_and_the_last_good_version_keeps_deciding(
    site, session_factory, caplog
):
    book = Rulebook(site, session_factory=session_factory, check_interval=0)
    good = book.load()
    touch_later(site, site.read_text().replace("action: reject", "action: rejct", 1))
    with caplog.at_level(logging.ERROR, logger="moderation.rulebook"):
        assert book.current() is good
        assert book.current() is good  # the same broken file is not parsed again
    [error] = book.last_errors
    assert error == f"{site}:11:5: rules[0].action: 'rejct' is not one of approve, reject, escalate"
    [record] = caplog.records
    assert record.getMessage() == (
        f"rules file {site} refused; still using version {good.version[:12]}:\n{error}"
    )
    refused_at = book.refused_at
    assert refused_at is not None and book.active_version == good.version
    result = book.reload()
    assert (result.changed, result.version, result.errors) == (False, good.version, [error])
    assert book.refused_at == refused_at  # the same refusal: still the time it was first seen

    touch_later(site, (GOOD / "site.yaml").read_text())  # repaired: same version as before
    assert book.current() is not good and book.current().version == good.version
    assert (book.last_errors, book.refused_at) == ([], None)


def test_a_file_read_while_half_written_is_read_again(site, monkeypatch):
    """The stamp is taken before reading, so the rest of an in-place write is noticed."""
    book = Rulebook(site, check_interval=0)
    v1 = book.load().version
    full = site.read_text().replace("gte: 0.8", "gte: 0.85")
    half = full[: full.index("rules:")] + "rules:\n  - id: ["
    real_load = rulebook_module.load_rules
    calls: list[Path] = []

    def load_while_writing(path, **kwargs):
        calls.append(path)
        if len(calls) > 1:
            return real_load(path, **kwargs)
        site.write_text(half)  # the editor has written half the file so far...
        try:
            return real_load(path, **kwargs)
        finally:
            touch_later(site, full)  # ... and now the rest

    monkeypatch.setattr(rulebook_module, "load_rules", load_while_writing)
    touch_later(site, "default: {action: approve}\n")
    assert book.current().version == v1  # the half file is refused
    assert book.last_errors
    assert book.current().version == load_rules(site).version != v1
    assert book.last_errors == []
    assert len(calls) == 2
