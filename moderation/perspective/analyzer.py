"""Scores Perspective requests in the API process, synchronously, batched with whatever
arrived at the same time.

One thread per app owns the models: it takes every request waiting (up to ``max_batch``) and
scores them in one pass, so a lone request never waits for a batch to fill, and under load
each pass carries as many requests as arrived during the previous one. Requests never go
through the RQ moderation queue.

The models (the configured :class:`~moderation.scoring.ScorerSet`, built with
:func:`~moderation.scoring.build_scorers`, and the language detector) are loaded once per
process in the background (:meth:`Analyzer.start`), so ``/healthz`` answers at once;
``ready`` says when they are there. Apps of one process with the same model settings share
one load (tests build many apps), and a lock keeps their passes apart (the embedder's memo
is not thread-safe).

Duplicate tracking is off (``build_scorers(redis=None)``): a Perspective request is a check,
not a post (Coral asks again when a reader edits), and nothing of a ``doNotStore`` request
may be kept.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moderation import heap
from moderation.perspective.languages import LanguageDetector
from moderation.perspective.scale import NATIVE, ScoreScale
from moderation.policy import ArticleFacts, EvaluationContext, RuleSet
from moderation.scoring import ArticleInput, CommentInput, ScorerSet

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 64
"""Requests scored in one pass at most (a pass is as slow as its longest comment)."""

SPAN_SCORER = "toxicity"
"""The scorer whose occlusion spans become ``spanScores``."""


@dataclass(frozen=True)
class Job:
    """One request's scoring work (the text after HTML is removed)."""

    text: str
    article: str | None = None
    """What the comment is compared with for relevance; None: no context, no relevance."""
    parent: str | None = None
    spans: bool = False
    rules: bool = False
    ruleset: RuleSet | None = None
    """The rules of the caller's site (None: the deployment's, ``Analyzer.rules``)."""


@dataclass
class Outcome:
    scores: dict[str, float] = field(default_factory=dict)
    """The scorers' scores, on the model's scale (what the rules decide on and what is
    stored)."""
    client_scores: dict[str, float] = field(default_factory=dict)
    """The same on the scale the client is answered on (:mod:`moderation.perspective.scale`)."""
    evidence: dict[str, Any] = field(default_factory=dict)
    decision: str | None = None
    rules_version: str | None = None
    spans: list[tuple[int, int, float]] = field(default_factory=list)
    """Code-point spans of ``Job.text`` with the span scorer's score of the span alone, on
    the client's scale."""


@dataclass
class Models:
    scorers: ScorerSet
    detector: LanguageDetector
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Load:
    """One load of the models, shared by the apps of a process that ask for the same."""

    def __init__(self, load: Callable[[], Models]) -> None:
        self._load = load
        self.done = threading.Event()
        self.models: Models | None = None
        self.error: str | None = None
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name="perspective-load", daemon=True).start()

    def _run(self) -> None:
        try:
            models = self._load()
            heap.freeze_loaded()  # kept for the process's life: out of full collections
            self.models = models  # ready only now
        except Exception as exc:  # noqa: BLE001 - reported by /readyz and in 503 answers
            log.exception("the Perspective analyzer could not load its models")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()


_LOADS: dict[tuple[Any, ...], _Load] = {}
_LOADS_LOCK = threading.Lock()


def shared_load(key: tuple[Any, ...], load: Callable[[], Models]) -> _Load:
    with _LOADS_LOCK:
        found = _LOADS.get(key)
        if found is None or found.error is not None:  # a failed load is tried again
            found = _LOADS[key] = _Load(load)
        return found


def model_key(settings: Any) -> tuple[Any, ...]:
    """What decides which models a load gives."""
    return (
        tuple(settings.scorer_names),
        settings.toxicity_backend.strip(),
        str(settings.detoxify_checkpoint),
        str(settings.detoxify_config_dir),
        settings.device,
        settings.scoring_batch_size,
    )


def load_models(settings: Any) -> Models:
    from moderation.scoring import build_scorers, set_torch_threads

    log.info("Perspective analyzer: loading scorers %s", settings.scorer_names)
    scorers = build_scorers(settings, redis=None)
    # The API process holds torch for the analyzer only; on cores a scoring worker also
    # uses, one thread kept answers fast (2 cores, busy worker: median 0.23 s, 1.2 s with
    # torch's default of one per core).
    set_torch_threads(settings.perspective_torch_threads, owner="Perspective analyzer")
    models = Models(scorers=scorers, detector=LanguageDetector())
    log.info("Perspective analyzer: ready (%s)", ", ".join(scorers.labels))
    return models


def client_scale(settings: Any) -> ScoreScale:
    """The map to Perspective's levels fitted for the shipped offline model, when that is
    the toxicity backend and ``perspective_scale`` asks for it; else none (Detoxify's
    scores, or ``model``)."""
    from moderation.perspective.scale import load_scale
    from moderation.scoring.toxicity_model import DEFAULT_MODEL_PATH, DEFAULT_SCALE_PATH

    if (
        settings.perspective_scale != "perspective"
        or settings.toxicity_backend.strip() != "offline"
    ):
        return NATIVE
    return load_scale(DEFAULT_SCALE_PATH, DEFAULT_MODEL_PATH)


class Analyzer:
    def __init__(
        self,
        load: _Load,
        *,
        rules: Callable[[], RuleSet],
        max_batch: int = DEFAULT_MAX_BATCH,
        scale: ScoreScale = NATIVE,
    ) -> None:
        self._load = load
        self.rules = rules
        self.max_batch = max_batch
        self.scale = scale
        """What the client's scores are mapped by (:data:`NATIVE`: none)."""
        self._queue: queue.SimpleQueue[tuple[Job, Future[Outcome]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.passes = 0
        """Scoring passes run (a pass scores every request waiting when it starts)."""

    @classmethod
    def from_settings(cls, settings: Any, *, rules: Callable[[], RuleSet]) -> Analyzer:
        load = shared_load(model_key(settings), lambda: load_models(settings))
        scale = client_scale(settings)
        if scale.maps:
            log.info("Perspective API: %s on Perspective's scale", ", ".join(sorted(scale.maps)))
        return cls(load, rules=rules, max_batch=settings.perspective_max_batch, scale=scale)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._load.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="perspective", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def ready(self) -> bool:
        return self._load.models is not None

    @property
    def error(self) -> str | None:
        return self._load.error

    def wait_ready(self, timeout: float) -> bool:
        self._load.done.wait(timeout)
        return self.ready

    @property
    def models(self) -> Models:
        if self._load.models is None:
            raise RuntimeError("the analyzer's models are not loaded")
        return self._load.models

    # --- work -------------------------------------------------------------------------------
    def submit(self, job: Job) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        if self._thread is None:
            future.set_exception(RuntimeError("the analyzer is not running"))
            return future
        self._queue.put((job, future))
        return future

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            live = [(job, fut) for job, fut in batch if fut.set_running_or_notify_cancel()]
            if live:
                self._run(live)
            if stop:
                return

    def _run(self, batch: list[tuple[Job, Future[Outcome]]]) -> None:
        try:
            models = self.models
            with models.lock:
                outcomes = score_jobs(
                    models.scorers, [job for job, _ in batch], self.rules, scale=self.scale
                )
            self.passes += 1
        except Exception as exc:  # noqa: BLE001 - each request answers INTERNAL
            log.exception("a Perspective scoring pass of %d request(s) failed", len(batch))
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)


# --- one pass (no threads here) ------------------------------------------------------------


def score_jobs(
    scorers: ScorerSet,
    jobs: Sequence[Job],
    rules: Callable[[], RuleSet],
    *,
    scale: ScoreScale = NATIVE,
) -> list[Outcome]:
    """Score ``jobs`` in one pass (:meth:`ScorerSet.score`; relevance only for the jobs with
    context), then spans and the rules' decision where asked (on the model's scale), then
    the client's scores (``scale``)."""
    inputs = [_input(index, job) for index, job in enumerate(jobs)]
    merged = scorers.score(inputs, has_article=[job.article is not None for job in jobs])
    outcomes = [Outcome(scores=dict(r.scores), evidence=dict(r.evidence)) for r in merged]
    _add_spans(scorers, jobs, outcomes)
    if any(job.rules for job in jobs):
        default = rules() if any(job.rules and job.ruleset is None for job in jobs) else None
        now = datetime.now(UTC)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.rules:
                ruleset = job.ruleset or default
                assert ruleset is not None
                verdict = ruleset.evaluate(_rules_context(ruleset, job, outcome, now))
                outcome.decision = verdict.action.value
                outcome.rules_version = ruleset.version
    for outcome in outcomes:
        outcome.client_scores = scale.apply(outcome.scores)
        outcome.spans = [(a, b, scale.value(SPAN_SCORER, v)) for a, b, v in outcome.spans]
    return outcomes


def _input(index: int, job: Job) -> CommentInput:
    body = job.article or ""
    digest = hashlib.sha256(body.encode("utf-8", errors="surrogatepass")).hexdigest()
    return CommentInput(
        id=f"perspective-{index}",
        text=job.text,
        author_id="perspective",
        article=ArticleInput(id="perspective", title="", body=body, content_hash=digest),
        parent_text=job.parent,
    )


def _add_spans(scorers: ScorerSet, jobs: Sequence[Job], outcomes: list[Outcome]) -> None:
    wanted = [i for i, job in enumerate(jobs) if job.spans]
    if not wanted or SPAN_SCORER not in scorers.explainer_names:
        return
    found = scorers.explain(
        SPAN_SCORER,
        [jobs[i].text for i in wanted],
        [outcomes[i].scores.get(SPAN_SCORER, 0.0) for i in wanted],
    )
    pieces: list[tuple[int, int, int]] = []
    for i, spans in zip(wanted, found, strict=True):
        for span in spans:
            pieces.append((i, int(span["start"]), int(span["end"])))  # type: ignore[call-overload]
    if not pieces:
        return
    # Each span's score is the scorer's score of the span's text on its own.
    scorer = scorers.get(SPAN_SCORER)
    alone = [
        CommentInput(
            id=f"span-{n}",
            text=jobs[i].text[start:end],
            author_id="perspective",
            article=ArticleInput(id="perspective", title="", body=""),
        )
        for n, (i, start, end) in enumerate(pieces)
    ]
    values: list[float] = []
    for start in range(0, len(alone), scorers.batch_size):
        for result in scorer.score(alone[start : start + scorers.batch_size]):
            values.append(float(result.scores[SPAN_SCORER]))
    for (i, start, end), value in zip(pieces, values, strict=True):
        outcomes[i].spans.append((start, end, value))


def _rules_context(
    ruleset: RuleSet, job: Job, outcome: Outcome, now: datetime
) -> EvaluationContext:
    # A Perspective request names no author: every history count the rules ask for is 0.
    return EvaluationContext(
        scores=outcome.scores,
        text=job.text,
        author_id="perspective",
        article=ArticleFacts(id="perspective"),
        is_reply=job.parent is not None,
        created_at=now,
        history={query: 0 for query in ruleset.history_queries},
        evidence=outcome.evidence,
    )
