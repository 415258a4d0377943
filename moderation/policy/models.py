"""The rules language as pydantic models: what a rules file may say, and nothing else.

Every model forbids unknown keys and is strict about types (YAML already gives typed
values, so ``priority: "5"`` is a mistake, not something to coerce). ``loader.py`` maps
validation errors back to ``file:line:column``; ``evaluator.py`` turns validated models
into something that runs. ``rules/README.md`` documents the language for operators.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from moderation import reasons
from moderation.policy._schema import NonEmptyStr, StrictModel, describe
from moderation.policy._template import parse_template
from moderation.policy.conditions import Condition, ReportReasonName, hold_conditions
from moderation.policy.context import REPORT_TOTAL, AuthorStatus, HistoryQuery, ReportReason

__all__ = [
    "Action",
    "ActionName",
    "DefaultModel",
    "HistoryQuery",
    "InlineTestModel",
    "ListSpec",
    "RuleModel",
    "RulesFileModel",
    "describe",
]


class Action(str, Enum):  # noqa: UP042 - the interface the service codes against
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"


if TYPE_CHECKING:
    ActionName = str
else:
    ActionName = Literal[tuple(action.value for action in Action)]
"""What a rules file writes for an action: one of ``Action``'s values."""
_ACTIONS = ", ".join(action.value for action in Action)


def _check_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}", value):
        raise ValueError(
            f"{value!r} is not a valid rule id; use up to 100 letters, digits and - _ . : "
            "starting with a letter or digit"
        )
    if value == "default":
        raise ValueError("'default' is reserved for the default action; choose another id")
    return value


_REPORT_FIELDS = (REPORT_TOTAL, *(reason.value for reason in ReportReason))


def _check_template(value: str) -> str:
    for f in parse_template(value).fields:
        if f.path[0] == "history" and len(f.path) > 1:
            HistoryQuery.parse(f.path[1])
        if f.path[0] == "reports" and len(f.path) > 1 and f.path[1] not in _REPORT_FIELDS:
            raise ValueError(
                f"unknown field {{reports.{f.path[1]}}} in message; "
                f"expected reports.REASON with REASON one of: {', '.join(_REPORT_FIELDS)}"
            )
    return value


RuleId = Annotated[str, AfterValidator(_check_id)]
TemplateText = Annotated[str, AfterValidator(_check_template)]
ReasonCode = Annotated[str, AfterValidator(reasons.check_code)]
"""A code from ``moderation.reasons`` (``docs/reasons.md``); only on a rule (or default)
that rejects or escalates, which the loader checks."""


# --- rules, lists, default ---------------------------------------------------------------


class RuleModel(StrictModel):
    id: RuleId
    when: Condition
    action: ActionName | None = None
    message: TemplateText | None = None
    priority: int = 0
    labels: list[NonEmptyStr] = []
    reason: ReasonCode | None = None
    """The reason code of a rejection (``moderation.reasons``); a rejecting rule without one
    stores ``reasons.FALLBACK``."""

    @model_validator(mode="after")
    def _does_something(self) -> RuleModel:
        if self.action is None and not self.labels and self.priority == 0:
            raise ValueError(
                f"rule {self.id!r} does nothing; give it an action ({_ACTIONS}), "
                "labels or a priority"
            )
        return self


class DefaultModel(StrictModel):
    action: ActionName
    message: TemplateText | None = None
    priority: int = 0
    labels: list[NonEmptyStr] = []
    reason: ReasonCode | None = None


class ListSpec(StrictModel):
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


class InlineArticleModel(StrictModel):
    title: str = ""
    body: str = ""
    section: str | None = None
    tags: list[str] = []
    age_hours: Annotated[float, Field(ge=0)] | None = None


if TYPE_CHECKING:
    AuthorStatusName = str
else:
    AuthorStatusName = Literal[tuple(status.value for status in AuthorStatus)]


class InlineAuthorModel(StrictModel):
    id: NonEmptyStr = "inline-test-author"
    status: AuthorStatusName = AuthorStatus.NORMAL.value
    """The status moderators set on the author, as in effect (``author_status``)."""
    history: dict[HistoryKey, Annotated[int, Field(ge=0)]] = {}


class InlineExpectModel(StrictModel):
    action: ActionName
    rule: str | None = None
    """Absent: not checked; ``null``: the default action decided."""
    labels: list[str] | None = None
    """Labels the verdict must carry (it may carry more)."""
    priority: int | None = None

    @property
    def checks_rule(self) -> bool:
        return "rule" in self.model_fields_set


class InlineTestModel(StrictModel):
    name: str | None = None
    text: str
    article: InlineArticleModel = InlineArticleModel()
    parent: str | None = None
    scores: dict[NonEmptyStr, Unit] | None = None
    author: InlineAuthorModel = InlineAuthorModel()
    reports: dict[ReportReasonName, Annotated[int, Field(ge=0)]] = {}
    """Readers' reports of the comment, by reason (``{abusive: 2, spam: 1}``)."""
    expect: InlineExpectModel


class RulesFileModel(StrictModel):
    extends: NonEmptyStr | None = None
    default: DefaultModel | None = None
    lists: dict[NonEmptyStr, ListSpec] = {}
    remove: list[NonEmptyStr] = []
    rules: list[RuleModel] = []
    tests: list[InlineTestModel] = []


hold_conditions(RuleModel, RulesFileModel)
