"""The documented list of reason codes: why a comment was rejected, in words a moderator
picks (keys 1-9 on the review page), a text the commenter can be shown, and where the
rejection falls in the EU DSA Transparency Database (``docs/reasons.md``).

Every rejection carries one code. A rules file names the code of a rule (``reason:``,
checked when the file loads); a rejecting rule without one gets ``FALLBACK``. A moderator
picks one; a moderator's rejection without one takes the code the rules suggested for the
escalation (an escalating rule's ``reason:``), else ``FALLBACK``.

No I/O and no imports from the rest of the package: the rules language, the API and the
export all read this one table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moderation.policy import RuleSet, Verdict

__all__ = [
    "DSA_CATEGORIES",
    "FALLBACK",
    "GROUND_ILLEGAL",
    "GROUND_INCOMPATIBLE",
    "MAX_REASON_TEXT",
    "REASONS",
    "REASON_TEXT_RULE",
    "ReasonCode",
    "allowed_codes",
    "check_code",
    "decision_reason_code",
    "decision_reason_text",
    "get",
    "rules_reason",
]

GROUND_INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
"""The comment broke the site's terms (its commenting policy)."""
GROUND_ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
"""The comment is illegal under the law that applies to the publisher."""

DSA_CATEGORIES = (
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
    "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS_OR_SERVICES",
    "STATEMENT_CATEGORY_VIOLENCE",
)
"""The Transparency Database's ``category`` values (API v1, ``docs/reasons.md`` says where
the list comes from)."""

MAX_REASON_TEXT = 500
"""Characters of a moderator's own text for the commenter (``reason_text``)."""

REASON_TEXT_RULE = "reason_text"
"""The ``rule`` of the reasons entry that keeps a moderator's own text for the commenter."""


@dataclass(frozen=True)
class ReasonCode:
    code: str
    """Stable: stored with decisions, sent in webhooks, written in rules files."""
    key: int
    """The key (1-9) a moderator presses for it on the review page."""
    label: str
    """Short, for moderators."""
    text: str
    """What the commenter can be shown."""
    category: str
    """The Transparency Database ``category``."""
    ground: str = GROUND_INCOMPATIBLE
    """The Transparency Database ``decision_ground``."""

    def public(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "key": self.key,
            "label": self.label,
            "text": self.text,
            "category": self.category,
            "decision_ground": self.ground,
        }


_REMOVED = "Your comment was removed because"

REASONS: tuple[ReasonCode, ...] = (
    ReasonCode(
        "abuse",
        1,
        "Abuse or harassment",
        f"{_REMOVED} it insults or harasses someone.",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    ),
    ReasonCode(
        "hate",
        2,
        "Hate (identity attack)",
        f"{_REMOVED} it attacks people for who they are (such as their origin, religion, "
        "gender, sexuality or disability).",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    ),
    ReasonCode(
        "threat",
        3,
        "Threat or violence",
        f"{_REMOVED} it threatens or encourages violence.",
        "STATEMENT_CATEGORY_VIOLENCE",
    ),
    ReasonCode(
        "spam",
        4,
        "Spam",
        f"{_REMOVED} it is advertising or spam.",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    ),
    ReasonCode(
        "off-topic",
        5,
        "Off-topic",
        f"{_REMOVED} it is not about the article.",
        "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
    ),
    ReasonCode(
        "personal-data",
        6,
        "Personal data",
        f"{_REMOVED} it shares someone's personal information.",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    ),
    ReasonCode(
        "illegal",
        7,
        "Illegal content",
        f"{_REMOVED} it appears to break the law.",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        GROUND_ILLEGAL,
    ),
    ReasonCode(
        "impersonation",
        8,
        "Impersonation",
        f"{_REMOVED} it pretends to be someone else.",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    ),
    ReasonCode(
        "other",
        9,
        "Other (breaks the comment rules)",
        f"{_REMOVED} it breaks our comment rules.",
        "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
    ),
)

FALLBACK = "other"
"""The code of a rejection nobody gave one: a rejecting rule without ``reason:``, or a
moderator's rejection without ``reason_code`` of a comment the rules suggested none for."""

_BY_CODE: Mapping[str, ReasonCode] = {r.code: r for r in REASONS}


def allowed_codes() -> str:
    """The codes as an error message lists them."""
    return ", ".join(_BY_CODE)


def get(code: str) -> ReasonCode:
    """The reason with this code; ``KeyError`` for one not in the list."""
    return _BY_CODE[code]


def check_code(code: str) -> str:
    """``code`` if it is in the list; ``ValueError`` naming the allowed codes otherwise."""
    if code not in _BY_CODE:
        raise ValueError(f"unknown reason code {code!r}; expected one of: {allowed_codes()}")
    return code


def rules_reason(ruleset: RuleSet, verdict: Verdict) -> str | None:
    """The code a rules decision stores: the deciding rule's (or the default's) ``reason``;
    ``FALLBACK`` for a rejection without one; None for an approval."""
    action = verdict.action.value
    if action not in ("reject", "escalate"):
        return None
    spec: Any = ruleset.rule(verdict.rule).spec if verdict.rule else ruleset.default.spec
    code: str | None = spec.reason
    return code if code is not None or action == "escalate" else FALLBACK


def decision_reason_code(action: str, reason_code: str | None) -> str | None:
    """The code a decision shows: a rejection's (``FALLBACK`` for one stored without, as
    before reason codes), an escalation's suggestion, an approval's as a moderator gave it."""
    if action == "reject":
        return reason_code or FALLBACK
    return reason_code


def decision_reason_text(
    action: str, reason_code: str | None, reasons: Iterable[Mapping[str, Any]] | None
) -> str | None:
    """What the commenter can be shown for a decision: a moderator's own text when one was
    given, else the text of the decision's code; None unless the decision is a rejection."""
    if action != "reject":
        return None
    for entry in reasons or ():
        if entry.get("rule") == REASON_TEXT_RULE:
            return str(entry.get("message"))
    reason = _BY_CODE.get(reason_code or FALLBACK) or _BY_CODE[FALLBACK]
    return reason.text
