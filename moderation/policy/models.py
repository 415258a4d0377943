"""The rules language as pydantic models: what a rules file may say, and nothing else.

Every model forbids unknown keys and is strict about types (YAML already gives typed
values, so ``priority: "5"`` is a mistake, not something to coerce). ``loader.py`` maps
validation errors back to ``file:line:column``; ``evaluator.py`` turns validated models
into something that runs. ``rules/README.md`` documents the language for operators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    Tag,
    field_validator,
    model_validator,
)

from moderation.policy._template import parse_template
from moderation.policy.normaliser import compile_re2


class Action(str, Enum):  # noqa: UP042 - the interface the service codes against
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"


HISTORY_KINDS = ("total", "approved", "rejected", "escalated")
_HISTORY_KEY = re.compile(r"(total|approved|rejected|escalated)(?:_([1-9][0-9]*)d)?")


@dataclass(frozen=True)
class HistoryQuery:
    """A count of the author's earlier comments: of one kind, within ``days`` (None = ever)."""

    kind: str
    days: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in HISTORY_KINDS:
            raise ValueError(f"history kind {self.kind!r} is not one of {', '.join(HISTORY_KINDS)}")
        if self.days is not None and self.days <= 0:
            raise ValueError(f"history days must be a positive number, got {self.days}")

    @property
    def key(self) -> str:
        """``rejected_30d`` / ``total``: how inline tests and messages name this count."""
        return self.kind if self.days is None else f"{self.kind}_{self.days}d"

    @classmethod
    def parse(cls, key: str) -> HistoryQuery:
        m = _HISTORY_KEY.fullmatch(key)
        if not m:
            raise ValueError(
                f"{key!r} is not a history count; write KIND or KIND_Nd with KIND one of "
                f"{', '.join(HISTORY_KINDS)} (e.g. rejected_30d)"
            )
        return cls(m.group(1), int(m.group(2)) if m.group(2) else None)


ActionName = Literal["approve", "reject", "escalate"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}", value):
        raise ValueError(
            f"{value!r} is not a valid rule id; use up to 100 letters, digits and - _ . : "
            "starting with a letter or digit"
        )
    if value == "default":
        raise ValueError("'default' is reserved for the default action; choose another id")
    return value


def _check_template(value: str) -> str:
    for f in parse_template(value).fields:
        if f.path[0] == "history":
            HistoryQuery.parse(f.path[1])
    return value


def _list_ref(value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if not value:
            raise ValueError("the list is empty; give at least one entry")
        return tuple(value)
    raise ValueError(
        f"expected the name of a list from `lists:` or a list of strings, got {describe(value)}"
    )


RuleId = Annotated[str, AfterValidator(_check_id)]
TemplateText = Annotated[str, AfterValidator(_check_template)]
ListRef = Annotated[str | tuple[str, ...], PlainValidator(_list_ref)]
NonEmptyStr = Annotated[str, Field(min_length=1)]


def describe(value: Any) -> str:
    """A value as an error message shows it."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# --- conditions ------------------------------------------------------------------------


class _Comparison(_Model):
    """``gte``/``gt``/``lt``/``lte``/``between`` (inclusive); all given ones must hold."""

    key: ClassVar[str]
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
    def _has_comparison(self) -> _Comparison:
        if not self.comparisons():
            raise ValueError(
                f"{self.key} condition needs a comparison: one of gte, gt, lt, lte, between"
            )
        return self

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


class ScoreCondition(_Comparison):
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


class HistoryCondition(_Comparison):
    """``{history: rejected, days: 30, gte: 2}``: the author's earlier comments."""

    key: ClassVar[str] = "history"
    history: Literal["total", "approved", "rejected", "escalated"]
    days: Annotated[int, Field(gt=0)] | None = None

    @property
    def query(self) -> HistoryQuery:
        return HistoryQuery(self.history, self.days)


class CountCondition(_Comparison):
    """``{count: links, gte: 2}``: characters, words, URLs or distinct domains in the text."""

    key: ClassVar[str] = "count"
    count: Literal["chars", "words", "links", "domains"]


class ArticleAgeCondition(_Comparison):
    """``{article_age: hours, gte: 72}``: time from publication to the comment."""

    key: ClassVar[str] = "article_age"
    article_age: Literal["minutes", "hours", "days"]


class WordsCondition(_Model):
    """``{words: severe}`` (a list from ``lists:``) or ``{words: [idiot, moron]}``."""

    key: ClassVar[str] = "words"
    words: ListRef


class PhrasesCondition(_Model):
    key: ClassVar[str] = "phrases"
    phrases: ListRef


class RegexCondition(_Model):
    """``{regex: "(?i)buy\\s+now"}``, searched in the text as written, run by RE2."""

    key: ClassVar[str] = "regex"
    regex: NonEmptyStr

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compile_re2(value)
        except ValueError as exc:
            raise ValueError(f"RE2 cannot compile {value!r}: {exc}") from None
        return value


class AuthorCondition(_Model):
    key: ClassVar[str] = "author"
    author: ListRef


class FirstCommentCondition(_Model):
    key: ClassVar[str] = "first_comment"
    first_comment: bool


class ReplyCondition(_Model):
    key: ClassVar[str] = "reply"
    reply: bool


class SectionCondition(_Model):
    key: ClassVar[str] = "section"
    section: Annotated[list[str], Field(min_length=1)]


class TagsCondition(_Model):
    key: ClassVar[str] = "tags"
    tags: Annotated[list[str], Field(min_length=1)]


class AllCondition(_Model):
    key: ClassVar[str] = "all"
    all: Annotated[list[Condition], Field(min_length=1)]


class AnyCondition(_Model):
    key: ClassVar[str] = "any"
    any: Annotated[list[Condition], Field(min_length=1)]


class NotCondition(_Model):
    key: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")


CONDITION_MODELS: dict[str, type[_Model]] = {
    m.key: m  # type: ignore[attr-defined]
    for m in (
        AllCondition,
        AnyCondition,
        NotCondition,
        ScoreCondition,
        WordsCondition,
        PhrasesCondition,
        RegexCondition,
        CountCondition,
        HistoryCondition,
        FirstCommentCondition,
        AuthorCondition,
        SectionCondition,
        TagsCondition,
        ArticleAgeCondition,
        ReplyCondition,
    )
}
CONDITION_KEYS = tuple(CONDITION_MODELS)
CONDITION_TAG_SUFFIX = " condition"
"""Pydantic puts the tag of the chosen condition model in error locations; loader drops it."""


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in value:
            if key in CONDITION_MODELS:
                return key + CONDITION_TAG_SUFFIX
        return None
    for key, model in CONDITION_MODELS.items():
        if isinstance(value, model):
            return key + CONDITION_TAG_SUFFIX
    return None


Condition = Annotated[
    Annotated[AllCondition, Tag("all condition")]
    | Annotated[AnyCondition, Tag("any condition")]
    | Annotated[NotCondition, Tag("not condition")]
    | Annotated[ScoreCondition, Tag("score condition")]
    | Annotated[WordsCondition, Tag("words condition")]
    | Annotated[PhrasesCondition, Tag("phrases condition")]
    | Annotated[RegexCondition, Tag("regex condition")]
    | Annotated[CountCondition, Tag("count condition")]
    | Annotated[HistoryCondition, Tag("history condition")]
    | Annotated[FirstCommentCondition, Tag("first_comment condition")]
    | Annotated[AuthorCondition, Tag("author condition")]
    | Annotated[SectionCondition, Tag("section condition")]
    | Annotated[TagsCondition, Tag("tags condition")]
    | Annotated[ArticleAgeCondition, Tag("article_age condition")]
    | Annotated[ReplyCondition, Tag("reply condition")],
    Discriminator(
        _condition_kind, custom_error_type="condition", custom_error_message="not a condition"
    ),
]

AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


# --- rules, lists, default ---------------------------------------------------------------


class RuleModel(_Model):
    id: RuleId
    when: Condition
    action: ActionName | None = None
    message: TemplateText | None = None
    priority: int = 0
    labels: list[NonEmptyStr] = []

    @model_validator(mode="after")
    def _does_something(self) -> RuleModel:
        if self.action is None and not self.labels and self.priority == 0:
            raise ValueError(
                f"rule {self.id!r} does nothing; give it an action (approve, reject, "
                "escalate), labels or a priority"
            )
        return self


class DefaultModel(_Model):
    action: ActionName
    message: TemplateText | None = None
    priority: int = 0
    labels: list[NonEmptyStr] = []


class ListSpec(_Model):
    """``{include: words/severe.txt}`` (relative to the rules file) or ``{entries: [...]}``."""

    include: NonEmptyStr | None = None
    entries: list[str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ListSpec:
        if (self.include is None) == (self.entries is None):
            raise ValueError("a list needs exactly one of: include (a file), entries (a list)")
        return self


# --- inline tests ------------------------------------------------------------------------


def _check_history_key(value: str) -> str:
    HistoryQuery.parse(value)
    return value


Unit = Annotated[float, Field(ge=0, le=1)]
HistoryKey = Annotated[str, AfterValidator(_check_history_key)]


class InlineArticleModel(_Model):
    title: str = ""
    body: str = ""
    section: str | None = None
    tags: list[str] = []
    age_hours: Annotated[float, Field(ge=0)] | None = None


class InlineAuthorModel(_Model):
    id: NonEmptyStr = "inline-test-author"
    history: dict[HistoryKey, Annotated[int, Field(ge=0)]] = {}


class InlineExpectModel(_Model):
    action: ActionName
    rule: str | None = None
    """Absent: not checked; ``null``: the default action decided."""
    labels: list[str] | None = None
    """Labels the verdict must carry (it may carry more)."""
    priority: int | None = None

    @property
    def checks_rule(self) -> bool:
        return "rule" in self.model_fields_set


class InlineTestModel(_Model):
    name: str | None = None
    text: str
    article: InlineArticleModel = InlineArticleModel()
    parent: str | None = None
    scores: dict[NonEmptyStr, Unit] | None = None
    author: InlineAuthorModel = InlineAuthorModel()
    expect: InlineExpectModel


class RulesFileModel(_Model):
    extends: NonEmptyStr | None = None
    default: DefaultModel | None = None
    lists: dict[NonEmptyStr, ListSpec] = {}
    remove: list[NonEmptyStr] = []
    rules: list[RuleModel] = []
    tests: list[InlineTestModel] = []
