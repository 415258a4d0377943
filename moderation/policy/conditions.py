"""The condition types of the rules language, one entry each in one table.

A condition type is a pydantic model (what a rules file may write) that also says how the
condition is

- **checked** at load time beyond its schema (``check_raw``: score and list names; a
  field validator does the rest, e.g. compiling a regex),
- **evaluated** (``compile``: done once when the file loads, so a comment pays only for
  the closure it returns),
- **described** in one line for reasons and ``rules diff`` (``describe``; thresholds go
  through ``Description.number``, so a diff can tell "other numbers" from "other
  conditions"),
- **needed** by the caller (``score_names``, ``history_queries``, ``needs_reports``: what
  ``RuleSet`` asks the worker to provide),
- **nested** (``children``/``raw_children``, for ``all``, ``any``, ``not``).

``register_condition`` puts a type in ``CONDITION_TYPES``; the ``Condition`` annotation
accepts every registered type, picked by the first key of the mapping that names one.
Adding a condition is one decorated class in this module (``CONTRIBUTING.md``).
"""

from __future__ import annotations

import operator
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import reduce
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.errors import PydanticUndefinedAnnotation

from moderation.policy._schema import ListRef, NonEmptyStr, StrictModel, describe
from moderation.policy.context import AuthorStatus, Facts, HistoryQuery, ReportReason
from moderation.policy.normaliser import (
    PhraseMatcher,
    TermMatcher,
    compile_re2,
    re2_limitation,
)

__all__ = [
    "AuthorStatuses",
    "CONDITION_TAG_SUFFIX",
    "CONDITION_TYPES",
    "Comparison",
    "Condition",
    "ConditionModel",
    "Description",
    "Lists",
    "LoadChecks",
    "Loc",
    "ReportReasonName",
    "ReportThresholds",
    "Test",
    "Thresholds",
    "hold_conditions",
    "register_condition",
    "unregister_condition",
]

Loc = tuple[str | int, ...]
Lists = Mapping[str, tuple[str, ...]]
Test = Callable[[Facts], bool]
"""A compiled condition: does it hold for this comment?"""


class LoadChecks(Protocol):
    """What the loader lets a condition report about its raw mapping."""

    def score(self, name: str, loc: Loc) -> None:
        """Report ``name`` if no active scorer produces it."""

    def list_name(self, name: str, loc: Loc) -> None:
        """Report ``name`` if ``lists:`` (or an extended file) does not define it."""


class Description:
    """What ``describe`` writes with. With ``numbers``, each threshold is written ``#`` and
    appended as ``(name, value)``: conditions differing only in thresholds read the same."""

    def __init__(self, numbers: list[tuple[str, float]] | None = None):
        self.numbers = numbers

    def number(self, name: str, value: float) -> str:
        if self.numbers is None:
            return f"{value:g}"
        self.numbers.append((name, value))
        return "#"

    def condition(self, cond: ConditionModel) -> str:
        return cond.describe(self)


class ConditionModel(StrictModel):
    """One condition type. ``key`` is the mapping key that selects it (``score``)."""

    key: ClassVar[str]

    @classmethod
    def check_raw(cls, raw: dict[str, Any], loc: Loc, checks: LoadChecks) -> None:
        """Checks on the plain mapping that need more than the schema; they run on rules
        that failed validation too, so every problem in a file is reported at once."""

    @classmethod
    def raw_children(cls, raw: dict[str, Any]) -> Iterator[tuple[Any, Loc]]:
        """Conditions inside the plain mapping, with their location relative to it."""
        return iter(())

    @abstractmethod
    def compile(self, lists: Lists) -> Test:
        """A function of the comment's facts; ``lists`` holds the resolved named lists."""

    @abstractmethod
    def describe(self, d: Description) -> str:
        """One line, e.g. ``score toxicity >= 0.9``."""

    def children(self) -> Iterator[tuple[ConditionModel, Loc]]:
        return iter(())

    def score_names(self) -> Iterable[str]:
        return ()

    def history_queries(self) -> Iterable[HistoryQuery]:
        return ()

    def needs_reports(self) -> bool:
        """Whether evaluating it reads the comment's reader reports."""
        return False


CONDITION_TYPES: dict[str, type[ConditionModel]] = {}
"""Every condition type by key, in registration order (error messages list them so)."""
CONDITION_TAG_SUFFIX = " condition"
"""Pydantic puts the tag of the chosen condition model in error locations; loader drops it."""

_holders: list[type[BaseModel]] = []
_ready = False  # the built-in types are all registered

M = TypeVar("M", bound=type[ConditionModel])


def register_condition(model: M) -> M:
    """Add a condition type (usable as a class decorator). Its ``key`` must be new."""
    key = getattr(model, "key", None)
    if not isinstance(key, str) or not key:
        raise ValueError(f"{model.__name__} needs a class attribute key = '<mapping key>'")
    if key in CONDITION_TYPES:
        raise ValueError(f"condition {key!r} is registered already ({CONDITION_TYPES[key]})")
    CONDITION_TYPES[key] = model
    _rebuild()
    return model


def unregister_condition(key: str) -> None:
    """Remove a condition type (tests that register a toy type clean up with this)."""
    del CONDITION_TYPES[key]
    _rebuild()


def hold_conditions(*models: type[BaseModel]) -> None:
    """Name the models outside this module that contain ``Condition`` fields, inner ones
    first, so that registering a type later rebuilds their validators too."""
    _holders.extend(models)


def _rebuild() -> None:
    if not _ready:
        return
    models: list[type[BaseModel]] = [*CONDITION_TYPES.values(), *_holders]
    # Pydantic reuses a model's cached schema when another model embeds it: drop every
    # cached one first, or a rebuilt ``all`` would still hold the old ``any``.
    for model in models:
        if "__pydantic_core_schema__" in model.__dict__:
            delattr(model, "__pydantic_core_schema__")
    for model in models:
        model.model_rebuild(force=True)


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in value:
            if key in CONDITION_TYPES:
                return f"{key}{CONDITION_TAG_SUFFIX}"
        return None
    if isinstance(value, ConditionModel):
        return value.key + CONDITION_TAG_SUFFIX
    return None


class _AnyRegisteredCondition:
    """Pydantic schema of ``Condition``: a tagged union of the types registered when a
    model's validator is built (``_rebuild`` builds them again after a registration)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        if not _ready:
            raise PydanticUndefinedAnnotation("Condition", "condition types still registering")
        members = tuple(
            Annotated[model, Tag(key + CONDITION_TAG_SUFFIX)]
            for key, model in CONDITION_TYPES.items()
        )
        # Built at run time from the table, so not a type mypy can check.
        union = Annotated[  # type: ignore[valid-type]
            reduce(operator.or_, members),
            Discriminator(
                _condition_kind,
                custom_error_type="condition",
                custom_error_message="not a condition",
            ),
        ]
        return handler.generate_schema(union)


Condition = Annotated[ConditionModel, _AnyRegisteredCondition()]


def _entries(ref: str | tuple[str, ...], lists: Lists) -> tuple[str, ...]:
    return lists[ref] if isinstance(ref, str) else ref


def _list_text(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else "[" + ", ".join(value) + "]"


def _raw_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- all, any, not ----------------------------------------------------------------------


@register_condition
class AllCondition(ConditionModel):
    key: ClassVar[str] = "all"
    all: Annotated[list[Condition], Field(min_length=1)]

    @classmethod
    def raw_children(cls, raw: dict[str, Any]) -> Iterator[tuple[Any, Loc]]:
        for i, child in enumerate(_raw_list(raw["all"])):
            yield child, ("all", i)

    def children(self) -> Iterator[tuple[ConditionModel, Loc]]:
        for i, child in enumerate(self.all):
            yield child, ("all", i)

    def compile(self, lists: Lists) -> Test:
        children = [c.compile(lists) for c in self.all]

        def all_(facts: Facts) -> bool:
            mark = len(facts.matched)
            for child in children:
                if not child(facts):
                    del facts.matched[mark:]
                    return False
            return True

        return all_

    def describe(self, d: Description) -> str:
        return "all(" + ", ".join(d.condition(c) for c in self.all) + ")"


@register_condition
class AnyCondition(ConditionModel):
    key: ClassVar[str] = "any"
    any: Annotated[list[Condition], Field(min_length=1)]

    @classmethod
    def raw_children(cls, raw: dict[str, Any]) -> Iterator[tuple[Any, Loc]]:
        for i, child in enumerate(_raw_list(raw["any"])):
            yield child, ("any", i)

    def children(self) -> Iterator[tuple[ConditionModel, Loc]]:
        for i, child in enumerate(self.any):
            yield child, ("any", i)

    def compile(self, lists: Lists) -> Test:
        children = [c.compile(lists) for c in self.any]
        return lambda facts: any(child(facts) for child in children)

    def describe(self, d: Description) -> str:
        return "any(" + ", ".join(d.condition(c) for c in self.any) + ")"


@register_condition
class NotCondition(ConditionModel):
    key: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")

    @classmethod
    def raw_children(cls, raw: dict[str, Any]) -> Iterator[tuple[Any, Loc]]:
        yield raw["not"], ("not",)

    def children(self) -> Iterator[tuple[ConditionModel, Loc]]:
        yield self.not_, ("not",)

    def compile(self, lists: Lists) -> Test:
        child = self.not_.compile(lists)

        def not_(facts: Facts) -> bool:
            mark = len(facts.matched)
            result = child(facts)
            del facts.matched[mark:]  # what a negated condition found is no reason
            return not result

        return not_

    def describe(self, d: Description) -> str:
        return f"not({d.condition(self.not_)})"


# --- numbers: score, count, history, article_age --------------------------------------


_OPS = {"gte": ">=", "gt": ">", "lt": "<", "lte": "<="}


class Thresholds(StrictModel):
    """``gte``/``gt``/``lt``/``lte``/``between`` (inclusive); all given ones must hold.
    ``Comparison`` is a condition made of them; a condition can also hold them one level
    down (``{reports: {gte: 3}}``)."""

    gte: float | None = None
    gt: float | None = None
    lt: float | None = None
    lte: float | None = None
    between: list[float] | None = None

    @field_validator("between")
    @classmethod
    def _low_high(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return value
        if len(value) != 2:
            raise ValueError(f"expected [low, high], got {len(value)} value(s)")
        if value[0] > value[1]:
            raise ValueError(
                f"low {value[0]:g} is greater than high {value[1]:g}; "
                "expected [low, high] with low <= high"
            )
        return value

    @model_validator(mode="after")
    def _has_comparison(self) -> Thresholds:
        if not self.comparisons():
            raise ValueError(
                f"{self.compared()} needs a comparison: one of gte, gt, lt, lte, between"
            )
        return self

    def compared(self) -> str:
        """What the "needs a comparison" message names."""
        return "a comparison"

    def comparisons(self) -> dict[str, float | tuple[float, float]]:
        out: dict[str, float | tuple[float, float]] = {}
        for op in ("gte", "gt", "lt", "lte"):
            value = getattr(self, op)
            if value is not None:
                out[op] = value
        if self.between is not None:
            out["between"] = (self.between[0], self.between[1])
        return out

    def compare(self, value: float) -> bool:
        if self.gte is not None and not value >= self.gte:
            return False
        if self.gt is not None and not value > self.gt:
            return False
        if self.lt is not None and not value < self.lt:
            return False
        if self.lte is not None and not value <= self.lte:
            return False
        if self.between is not None and not self.between[0] <= value <= self.between[1]:
            return False
        return True

    def describe_comparisons(self, d: Description, subject: str) -> str:
        tests = []
        for op, value in self.comparisons().items():
            if isinstance(value, tuple):
                low = d.number(f"{subject} between low", value[0])
                high = d.number(f"{subject} between high", value[1])
                tests.append(f"in [{low}, {high}]")
            else:
                tests.append(f"{_OPS[op]} {d.number(f'{subject} {op}', value)}")
        return f"{subject} " + " and ".join(tests)


class Comparison(ConditionModel, Thresholds):
    """A condition that compares one number (``Thresholds``). A subclass says what is
    compared: ``subject`` for descriptions, ``compile`` (with ``self.compare``) for
    evaluation."""

    def compared(self) -> str:
        return f"{self.key} condition"

    @abstractmethod
    def subject(self) -> str:
        """What is compared, e.g. ``score toxicity``."""

    def describe(self, d: Description) -> str:
        return self.describe_comparisons(d, self.subject())


@register_condition
class ScoreCondition(Comparison):
    """``{score: toxicity, gte: 0.9}``; a score the comment lacks never matches."""

    key: ClassVar[str] = "score"
    score: NonEmptyStr

    @model_validator(mode="after")
    def _in_unit_range(self) -> ScoreCondition:
        for op, value in self.comparisons().items():
            values = value if isinstance(value, tuple) else (value,)
            if any(not 0 <= v <= 1 for v in values):
                shown = ", ".join(f"{v:g}" for v in values)
                shown = f"[{shown}]" if isinstance(value, tuple) else shown
                raise ValueError(f"scores lie in [0, 1]; {op}: {shown} can never be useful")
        return self

    @classmethod
    def check_raw(cls, raw: dict[str, Any], loc: Loc, checks: LoadChecks) -> None:
        if isinstance(raw.get("score"), str):
            checks.score(raw["score"], (*loc, "score"))

    def compile(self, lists: Lists) -> Test:
        name, compare = self.score, self.compare

        def score(facts: Facts) -> bool:
            value = facts.ctx.scores.get(name)
            return value is not None and compare(float(value))

        return score

    def subject(self) -> str:
        return f"score {self.score}"

    def score_names(self) -> Iterable[str]:
        return (self.score,)


class _ListCondition(ConditionModel):
    """Words, phrases, author ids: the condition's value names a list or gives entries."""

    @classmethod
    def check_raw(cls, raw: dict[str, Any], loc: Loc, checks: LoadChecks) -> None:
        if isinstance(raw.get(cls.key), str):
            checks.list_name(raw[cls.key], (*loc, cls.key))

    def entries(self, lists: Lists) -> tuple[str, ...]:
        return _entries(getattr(self, self.key), lists)

    def describe(self, d: Description) -> str:
        return f"{self.key} {_list_text(getattr(self, self.key))}"


@register_condition
class WordsCondition(_ListCondition):
    """``{words: severe}`` (a list from ``lists:``) or ``{words: [idiot, moron]}``."""

    key: ClassVar[str] = "words"
    words: ListRef

    def compile(self, lists: Lists) -> Test:
        terms = TermMatcher(self.entries(lists))

        def words(facts: Facts) -> bool:
            found = terms.find(facts.canonical)
            facts.matched.extend(found)
            return bool(found)

        return words


@register_condition
class PhrasesCondition(_ListCondition):
    key: ClassVar[str] = "phrases"
    phrases: ListRef

    def compile(self, lists: Lists) -> Test:
        phrases = PhraseMatcher(self.entries(lists))

        def phrases_(facts: Facts) -> bool:
            found = phrases.find(facts.normalised)
            facts.matched.extend(found)
            return bool(found)

        return phrases_


@register_condition
class RegexCondition(ConditionModel):
    """``{regex: "(?i)buy\\s+now"}``, searched in the text as written, run by RE2."""

    key: ClassVar[str] = "regex"
    regex: NonEmptyStr

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_re2(value)
        except ValueError as exc:
            lacks = re2_limitation(str(exc))
            hint = f"; {lacks}" if lacks else ""
            raise ValueError(f"RE2 cannot compile {value!r}: {exc}{hint}") from None
        return value

    def compile(self, lists: Lists) -> Test:
        regex = compile_re2(self.regex)

        def regex_(facts: Facts) -> bool:
            match = regex.search(facts.text)
            if match is None:
                return False
            facts.matched.append(match.group(0)[:100])
            return True

        return regex_

    def describe(self, d: Description) -> str:
        return f"regex {self.regex!r}"


@register_condition
class CountCondition(Comparison):
    """``{count: links, gte: 2}``: characters, words, URLs or distinct domains in the text."""

    key: ClassVar[str] = "count"
    count: Literal["chars", "words", "links", "domains"]

    def compile(self, lists: Lists) -> Test:
        compare = self.compare
        if self.count == "chars":
            return lambda facts: compare(len(facts.ctx.text))
        if self.count == "words":
            return lambda facts: compare(len(facts.ctx.text.split()))
        if self.count == "links":
            return lambda facts: compare(len(facts.urls))
        return lambda facts: compare(len(facts.domains))

    def subject(self) -> str:
        return f"count {self.count}"


@register_condition
class HistoryCondition(Comparison):
    """``{history: rejected, days: 30, gte: 2}``: the author's earlier comments."""

    key: ClassVar[str] = "history"
    history: Literal["total", "approved", "rejected", "escalated"]
    days: Annotated[int, Field(gt=0)] | None = None

    @property
    def query(self) -> HistoryQuery:
        return HistoryQuery(self.history, self.days)

    def compile(self, lists: Lists) -> Test:
        query, compare = self.query, self.compare
        return lambda facts: compare(facts.history(query))

    def subject(self) -> str:
        return f"history {self.query.key}"

    def history_queries(self) -> Iterable[HistoryQuery]:
        return (self.query,)


# --- the author, the article, the thread ------------------------------------------------


@register_condition
class FirstCommentCondition(ConditionModel):
    key: ClassVar[str] = "first_comment"
    first_comment: bool

    def compile(self, lists: Lists) -> Test:
        want, total = self.first_comment, HistoryQuery("total")
        return lambda facts: (facts.history(total) == 0) == want

    def describe(self, d: Description) -> str:
        return f"first_comment {str(self.first_comment).lower()}"

    def history_queries(self) -> Iterable[HistoryQuery]:
        return (HistoryQuery("total"),)


@register_condition
class AuthorCondition(_ListCondition):
    key: ClassVar[str] = "author"
    author: ListRef

    def compile(self, lists: Lists) -> Test:
        ids = frozenset(self.entries(lists))
        return lambda facts: facts.ctx.author_id in ids


@register_condition
class SectionCondition(ConditionModel):
    key: ClassVar[str] = "section"
    section: Annotated[list[str], Field(min_length=1)]

    def compile(self, lists: Lists) -> Test:
        sections = frozenset(s.casefold() for s in self.section)

        def section(facts: Facts) -> bool:
            value = facts.ctx.article.section
            return value is not None and value.casefold() in sections

        return section

    def describe(self, d: Description) -> str:
        return f"section {_list_text(tuple(self.section))}"


@register_condition
class TagsCondition(ConditionModel):
    key: ClassVar[str] = "tags"
    tags: Annotated[list[str], Field(min_length=1)]

    def compile(self, lists: Lists) -> Test:
        wanted = frozenset(t.casefold() for t in self.tags)
        return lambda facts: any(t.casefold() in wanted for t in facts.ctx.article.tags)

    def describe(self, d: Description) -> str:
        return f"tags {_list_text(tuple(self.tags))}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_AGE_UNIT_SECONDS = {"minutes": 60.0, "hours": 3600.0, "days": 86400.0}


@register_condition
class ArticleAgeCondition(Comparison):
    """``{article_age: hours, gte: 72}``: time from publication to the comment."""

    key: ClassVar[str] = "article_age"
    article_age: Literal["minutes", "hours", "days"]

    def compile(self, lists: Lists) -> Test:
        unit, compare = _AGE_UNIT_SECONDS[self.article_age], self.compare

        def article_age(facts: Facts) -> bool:
            published = facts.ctx.article.published_at
            if published is None:
                return False
            age = (_aware(facts.ctx.created_at) - _aware(published)).total_seconds()
            return compare(age / unit)

        return article_age

    def subject(self) -> str:
        return f"article_age {self.article_age}"


@register_condition
class ReplyCondition(ConditionModel):
    key: ClassVar[str] = "reply"
    reply: bool

    def compile(self, lists: Lists) -> Test:
        want = self.reply
        return lambda facts: facts.ctx.is_reply == want

    def describe(self, d: Description) -> str:
        return f"reply {str(self.reply).lower()}"


# --- readers' reports ---------------------------------------------------------------------


if TYPE_CHECKING:
    ReportReasonName = str
else:
    ReportReasonName = Literal[tuple(reason.value for reason in ReportReason)]
"""What a rules file writes for a report reason: one of ``ReportReason``'s values."""


class ReportThresholds(Thresholds):
    """What ``reports:`` holds: comparisons of the count, and ``reason`` to count one."""

    reason: ReportReasonName | None = None

    def compared(self) -> str:
        return "reports"


@register_condition
class ReportsCondition(ConditionModel):
    """``{reports: {gte: 3}}`` or ``{reports: {reason: abusive, gte: 2}}``: readers'
    reports of the comment (one per reader), of every reason or of one."""

    key: ClassVar[str] = "reports"
    reports: ReportThresholds

    def compile(self, lists: Lists) -> Test:
        reason, compare = self.reports.reason, self.reports.compare
        return lambda facts: compare(facts.ctx.reports.count(reason))

    def describe(self, d: Description) -> str:
        subject = "reports" if self.reports.reason is None else f"reports {self.reports.reason}"
        return self.reports.describe_comparisons(d, subject)

    def needs_reports(self) -> bool:
        return True


# --- the author's status ------------------------------------------------------------------


_AUTHOR_STATUSES = tuple(status.value for status in AuthorStatus)


def _author_statuses(value: Any) -> str | tuple[str, ...]:
    """One status or a list of them; an unknown one names the statuses there are."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        raise ValueError(f"the list is empty; give at least one of: {', '.join(_AUTHOR_STATUSES)}")
    for item in items:
        if not isinstance(item, str) or item not in _AUTHOR_STATUSES:
            raise ValueError(
                f"{describe(item)} is not an author status; expected one of "
                + ", ".join(_AUTHOR_STATUSES)
                + (" or a list of them" if not isinstance(value, list) else "")
            )
    return value if isinstance(value, str) else tuple(dict.fromkeys(value))


AuthorStatuses = Annotated[str | tuple[str, ...], PlainValidator(_author_statuses)]
"""What ``author_status:`` holds: one of ``AuthorStatus``'s values, or a list of them."""


@register_condition
class AuthorStatusCondition(ConditionModel):
    """``{author_status: premoderated}`` or ``{author_status: [suspended, banned]}``: the
    status moderators set on the author, as in effect when the comment is decided (the
    caller passes it; a suspension that has run out is ``normal``)."""

    key: ClassVar[str] = "author_status"
    author_status: AuthorStatuses

    def statuses(self) -> tuple[str, ...]:
        value = self.author_status
        return (value,) if isinstance(value, str) else value

    def compile(self, lists: Lists) -> Test:
        wanted = frozenset(self.statuses())
        return lambda facts: facts.ctx.author_status in wanted

    def describe(self, d: Description) -> str:
        return f"author_status {_list_text(self.author_status)}"


_ready = True
_rebuild()
