"""The active rules: loaded once, watched for changes, reloaded without a restart.

A file that fails validation is refused and logged; the last good version keeps deciding.
Every version that becomes active is stored (content and hash), so each decision's
``rules_version`` can be looked up later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from moderation import metrics
from moderation.db.models import RulesVersion, utcnow
from moderation.exceptions import RulesError
from moderation.policy import RuleSet, load_rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    version: str
    errors: list[str]


class Rulebook:
    def __init__(
        self,
        path: Path,
        *,
        available_scores: Collection[str] | None = None,
        session_factory: sessionmaker[Session] | None = None,
        check_interval: float = 1.0,
    ):
        self.path = Path(path)
        self.available_scores = available_scores
        self.session_factory = session_factory
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._ruleset: RuleSet | None = None
        self._stamp: tuple[tuple[str, float, int], ...] = ()
        self._checked = 0.0
        self.loaded_at: datetime | None = None
        self.last_errors: list[str] = []
        self.refused_at: datetime | None = None

    def load(self) -> RuleSet:
        """First load: raises ``RulesError`` when the file is invalid."""
        with self._lock:
            stamp = self._file_stamp()
            ruleset = load_rules(self.path, available_scores=self.available_scores)
            self._activate(ruleset, stamp)
            return ruleset

    @property
    def active_version(self) -> str | None:
        """The version deciding now, without loading or checking anything (None: none yet)."""
        return self._ruleset.version if self._ruleset is not None else None

    @property
    def ruleset(self) -> RuleSet:
        if self._ruleset is None:
            return self.load()
        return self._ruleset

    def current(self) -> RuleSet:
        """The active rules, picking up a changed file at most every ``check_interval`` s."""
        now = time.monotonic()
        if self._ruleset is not None and now - self._checked < self.check_interval:
            return self._ruleset
        self._checked = now
        if self._ruleset is None:
            return self.load()
        if self._file_stamp() != self._stamp:
            self.reload()
        return self._ruleset

    def reload(self) -> ReloadResult:
        with self._lock:
            previous = self._ruleset
            # Stamped before reading: a file still being written when read is read again.
            stamp = self._file_stamp()
            try:
                ruleset = load_rules(self.path, available_scores=self.available_scores)
            except RulesError as exc:
                if exc.errors != self.last_errors or self.refused_at is None:
                    self.refused_at = utcnow()
                self.last_errors = exc.errors
                self._stamp = stamp  # don't re-parse the same broken file
                metrics.inc(metrics.RULES_RELOADS, outcome="refused")
                log.error(
                    "rules file %s refused; still using version %s:\n%s",
                    self.path,
                    previous.version[:12] if previous else None,
                    "\n".join(exc.errors),
                )
                return ReloadResult(False, previous.version if previous else "", exc.errors)
            changed = previous is None or previous.version != ruleset.version
            self._activate(ruleset, stamp)
            if changed:
                log.info("rules %s active: version %s", self.path, ruleset.version[:12])
                metrics.inc(metrics.RULES_RELOADS, outcome="loaded")
            return ReloadResult(changed, ruleset.version, [])

    def _activate(self, ruleset: RuleSet, stamp: tuple[tuple[str, float, int], ...]) -> None:
        if self._ruleset is None or self._ruleset.version != ruleset.version:
            self.loaded_at = utcnow()
            self._record(ruleset)
        self._ruleset = ruleset
        # When the new version watches other files than the stamp covered, the next check
        # reloads once more (same version, so nothing changes) and stamps them.
        self._stamp = stamp
        self.last_errors = []
        self.refused_at = None

    def _watched(self) -> list[Path]:
        files = getattr(self._ruleset, "files", None) if self._ruleset is not None else None
        return [Path(f) for f in files] if files else [self.path]

    def _file_stamp(self) -> tuple[tuple[str, float, int], ...]:
        stamp = []
        for f in self._watched():
            try:
                st = f.stat()
                stamp.append((str(f), st.st_mtime, st.st_size))
            except OSError:
                stamp.append((str(f), -1.0, -1))
        return tuple(stamp)

    def _record(self, ruleset: RuleSet) -> None:
        if self.session_factory is None:
            return
        with self.session_factory() as session:
            if session.get(RulesVersion, ruleset.version) is not None:
                return
            session.add(
                RulesVersion(
                    hash=ruleset.version,
                    source=str(ruleset.source),
                    content=ruleset.content,
                    sources=ruleset.sources,
                )
            )
            try:
                session.commit()
            except IntegrityError:  # another process stored the same version first
                session.rollback()


class Rulebooks:
    """The rulebooks of a process, one per rules file: the deployment's (``default``) and
    those of the sites that have their own (``moderation sites create --rules FILE``). A
    site's file is loaded the first time one of its comments is decided, then watched as
    the deployment's is."""

    def __init__(
        self,
        default_path: Path,
        *,
        available_scores: Collection[str] | None = None,
        session_factory: sessionmaker[Session] | None = None,
        check_interval: float = 1.0,
    ):
        self._options = {
            "available_scores": available_scores,
            "session_factory": session_factory,
            "check_interval": check_interval,
        }
        self._lock = threading.Lock()
        self.default = Rulebook(Path(default_path), **self._options)  # type: ignore[arg-type]
        self._books: dict[Path, Rulebook] = {self._key(default_path): self.default}

    @staticmethod
    def _key(path: Path) -> Path:
        return Path(path).resolve()

    def for_path(self, path: Path) -> Rulebook:
        key = self._key(path)
        with self._lock:
            book = self._books.get(key)
            if book is None:
                book = Rulebook(Path(path), **self._options)  # type: ignore[arg-type]
                self._books[key] = book
            return book

    def all(self) -> list[Rulebook]:
        with self._lock:
            return list(self._books.values())
