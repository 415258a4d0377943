"""An AnalyzeComment request, checked: what to score and what to answer, or Perspective's error.

:func:`plan_analysis` runs Perspective's checks in a fixed order and raises the first
:class:`~moderation.perspective.errors.PerspectiveError` (a client fixes one thing at a time,
as with Perspective): the comment's type, emptiness and size; the requested attributes; the
context; the languages (detected when absent); then, per attribute, whether the configured
scorers, the languages and the context let it be answered (``dropUnsupportedAttributes``
drops the ones that cannot instead). Pure: the language detector is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from moderation.perspective import errors
from moderation.perspective.attributes import Attribute, AttributeTable
from moderation.perspective.errors import COMMENT_MAX_BYTES
from moderation.perspective.languages import Detection, primary_language, valid_tag
from moderation.perspective.offsets import SourceText, html_to_text
from moderation.perspective.wire import (
    AnalyzeCommentRequest,
    Context,
    SuggestCommentScoreRequest,
    TextEntry,
)
from moderation.textfeatures import REPLACEMENT_CHARACTER, whole_characters

TEXT_TYPES = ("PLAIN_TEXT", "HTML", "TEXT_TYPE_UNSPECIFIED")
SCORE_TYPES = ("PROBABILITY", "SCORE_TYPE_UNSPECIFIED")

FALLBACK_LANGUAGE = "en"
"""The language a comment is scored in when the detector cannot tell (see
``languages.DEFAULT_MIN_CONFIDENCE``)."""


@dataclass(frozen=True)
class Requested:
    key: str
    """The name as the client wrote it (``TOXICITY@3``): the response mirrors it."""
    attribute: Attribute
    threshold: float | None


@dataclass(frozen=True)
class CommentContext:
    article: str | None = None
    parent: str | None = None
    entries: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        return bool(self.article or self.parent or self.entries)

    def article_text(self) -> str:
        """What the relevance scorer compares the comment with as its "article"."""
        if self.article:
            return self.article
        if self.entries:
            return "\n\n".join(self.entries)
        return self.parent or ""


@dataclass(frozen=True)
class Plan:
    original: str
    """``comment.text`` as sent (offsets are counted in it)."""
    text_type: str
    source: SourceText
    """The text that is scored (HTML reduced to text), mapped to ``original``."""
    context: CommentContext
    attributes: tuple[Requested, ...]
    languages: tuple[str, ...]
    """The effective languages, echoed as ``languages``."""
    detected: tuple[str, ...] | None
    """What detection found (None: the client gave ``languages``)."""
    spans: bool
    store: bool
    client_token: str | None
    session_id: str | None
    community_id: str | None

    @property
    def text(self) -> str:
        return self.source.text

    @property
    def uses_rules(self) -> bool:
        return any(r.attribute.uses_rules for r in self.attributes)

    @property
    def wants_spans(self) -> bool:
        return self.spans and any(r.attribute.spans for r in self.attributes)


def whole_text(text: str) -> str:
    """``text`` with lone surrogates (a JSON ``\\ud800`` escape) and NUL as U+FFFD, one for
    one, so it can be scored, stored (UTF-8, PostgreSQL) and UTF-16 offsets stay the same."""
    return whole_characters(text).replace("\x00", REPLACEMENT_CHARACTER)


def text_of(entry: TextEntry | None) -> SourceText:
    """The scored text of one text entry (``Unknown text type`` for anything but plain text
    or HTML)."""
    if entry is None or entry.text is None:
        return SourceText.plain("")
    kind = entry.type or "PLAIN_TEXT"
    if kind not in TEXT_TYPES:
        raise errors.unknown_text_type(kind)
    text = whole_text(entry.text)
    return html_to_text(text) if kind == "HTML" else SourceText.plain(text)


def read_context(context: Context | None) -> CommentContext:
    if context is None:
        return CommentContext()
    pair = context.article_and_parent_comment
    if context.entries and pair is not None and (pair.article or pair.parent_comment):
        raise errors.both_context_forms()
    if pair is not None:
        article = text_of(pair.article).text.strip() or None
        parent = text_of(pair.parent_comment).text.strip() or None
        return CommentContext(article=article, parent=parent)
    entries = tuple(t for t in (text_of(e).text.strip() for e in context.entries or ()) if t)
    return CommentContext(entries=entries)


def read_comment(comment: TextEntry | None) -> tuple[str, str, SourceText]:
    original = comment.text if comment is not None and comment.text is not None else ""
    original = whole_text(original)
    kind = (comment.type if comment is not None else None) or "PLAIN_TEXT"
    source = text_of(comment)
    if not source.text.strip():
        raise errors.comment_empty()
    if len(original.encode("utf-8", errors="surrogatepass")) > COMMENT_MAX_BYTES:
        raise errors.comment_too_long()
    return original, kind, source


def plan_analysis(
    request: AnalyzeCommentRequest,
    *,
    table: AttributeTable,
    backend: str,
    labels: Collection[str],
    detect: Callable[[str], Detection],
) -> Plan:
    """The checked request (see the module docstring for the order of the checks).

    ``labels``: the score names the loaded scorers produce; ``backend``: the toxicity
    backend setting, which picks each attribute's languages."""
    original, kind, source = read_comment(request.comment)
    requested = read_attributes(request, table)
    context = read_context(request.context)

    detected: tuple[str, ...] | None = None
    if request.languages:
        languages = tuple(request.languages)
    else:
        found = detect(source.text)
        detected = (found.language,) if found.language else ()
        languages = detected or (FALLBACK_LANGUAGE,)
    primaries = [primary_language(tag) if valid_tag(tag) else tag for tag in languages]

    kept: list[Requested] = []
    for item in requested:
        problem = unsupported(item.attribute, primaries, languages, backend, labels, context)
        if problem is None:
            kept.append(item)
        elif not request.drop_unsupported_attributes:
            raise problem
    return Plan(
        original=original,
        text_type=kind,
        source=source,
        context=context,
        attributes=tuple(kept),
        languages=languages,
        detected=detected,
        spans=bool(request.span_annotations),
        store=not request.do_not_store,
        client_token=request.client_token,
        session_id=request.session_id,
        community_id=request.community_id,
    )


def read_attributes(request: AnalyzeCommentRequest, table: AttributeTable) -> list[Requested]:
    if not request.requested_attributes:
        raise errors.no_requested_attributes()
    out = []
    for key, params in request.requested_attributes.items():
        attribute = table.get(key)
        if attribute is None:
            raise errors.unknown_attribute(key)
        score_type = params.score_type if params is not None else None
        if score_type is not None and score_type not in SCORE_TYPES:
            raise errors.unsupported_score_type(score_type, key)
        threshold = params.score_threshold if params is not None else None
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise errors.invalid_score_threshold(key, threshold)
        out.append(Requested(key, attribute, threshold))
    return out


def unsupported(
    attribute: Attribute,
    primaries: list[str],
    languages: tuple[str, ...],
    backend: str,
    labels: Collection[str],
    context: CommentContext,
) -> errors.PerspectiveError | None:
    """Why ``attribute`` cannot be answered for this request, or None."""
    if any(score not in labels for score in attribute.required_scores()):
        # The backend has no such label: as Perspective says of an attribute it lacks in a
        # language, it does not support the request's languages.
        return errors.language_not_supported(attribute.name, languages)
    supported = attribute.languages_for(backend)
    missing = [
        tag for tag, primary in zip(languages, primaries, strict=True) if primary not in supported
    ]
    if missing:
        return errors.language_not_supported(attribute.name, missing)
    if attribute.context and not context.present:
        return errors.attribute_needs_context(attribute.name)
    return None


@dataclass(frozen=True)
class SuggestionPlan:
    original: str
    values: dict[str, float]
    """Attribute name (version dropped) -> the suggested summary score."""
    context: CommentContext
    languages: tuple[str, ...]
    keep_text: bool
    client_token: str | None
    session_id: str | None
    community_id: str | None


def plan_suggestion(
    request: SuggestCommentScoreRequest, *, table: AttributeTable
) -> SuggestionPlan:
    """The checked SuggestCommentScore request: the comment as for AnalyzeComment, then each
    suggested attribute known and its ``summaryScore.value`` in [0, 1] (``type`` may be
    absent: Coral sends none)."""
    original, _, _ = read_comment(request.comment)
    if not request.attribute_scores:
        raise errors.no_attribute_scores()
    values: dict[str, float] = {}
    for key, scores in request.attribute_scores.items():
        attribute = table.get(key)
        if attribute is None:
            raise errors.unknown_attribute(key)
        summary = scores.summary_score
        value = summary.value if summary is not None else None
        if value is None or not 0.0 <= value <= 1.0:
            raise errors.invalid_suggested_score(key, value)
        if summary is not None and summary.type not in (None, *SCORE_TYPES):
            raise errors.unsupported_score_type(str(summary.type), key)
        values[attribute.name] = float(value)
    context = read_context(request.context)
    return SuggestionPlan(
        original=original,
        values=values,
        context=context,
        languages=tuple(request.languages or ()),
        keep_text=not request.do_not_store,
        client_token=request.client_token,
        session_id=request.session_id,
        community_id=request.community_id,
    )
