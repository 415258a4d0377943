"""Reason-message templates: ``"toxicity {score.toxicity:.2f}, matched {matched}"``.

Deliberately small: a field is a dotted name from a fixed set (no attribute access, no
indexing, no nested fields), and the format spec is limited to alignment, sign, a width
up to 99, a precision up to 99 and one of the types ``d f e % s``. ``{{`` and ``}}`` are
literal braces. Templates are parsed when the rules file loads, so a typo is a load error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moderation.textfeatures import whole_characters

# Fields a message may quote; "NAME" stands for a score, history or evidence name, "REASON"
# for a report reason or "total".
FIELD_FORMS = (
    "score.NAME",
    "matched",
    "rule",
    "length",
    "links",
    "domains",
    "section",
    "history.KIND or history.KIND_Nd",
    "evidence.NAME",
    "reports or reports.REASON",
)
_SIMPLE_FIELDS = frozenset({"matched", "rule", "length", "links", "domains", "section", "reports"})
_DOTTED_FIELDS = frozenset({"score", "history", "evidence", "reports"})
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_SPEC = re.compile(r"[<>^]?[+-]?\d{0,2}(?:\.\d{1,2})?[dfe%s]?")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]
    spec: str


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Field, ...]

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(p for p in self.parts if isinstance(p, Field))

    def render(self, lookup: Callable[[tuple[str, ...]], Any]) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(_format(lookup(part.path), part.spec))
        # Values come from the comment and its article: keep the message storable as UTF-8.
        return whole_characters("".join(out))


def _format(value: Any, spec: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    if not isinstance(value, (int, float, str)) or isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and len(value) > _MAX_VALUE_CHARS:
        value = value[: _MAX_VALUE_CHARS - 1] + "…"
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            pass
    return str(value)


def parse_template(text: str) -> Template:
    """Parse a message template; ``ValueError`` says what is wrong and what is allowed."""
    parts: list[str | Field] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif token in ("{", "}"):
            raise ValueError(
                f"unbalanced {token!r} at character {m.start() + 1} of {text!r}; "
                "write {{ or }} for a literal brace"
            )
        else:
            parts.append(_parse_field(m.group(1)))
    if pos < len(text):
        parts.append(text[pos:])
    merged: list[str | Field] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return Template(text, tuple(merged))


def _parse_field(body: str) -> Field:
    name, _, spec = body.partition(":")
    name = name.strip()
    expected = "expected one of: " + ", ".join(FIELD_FORMS)
    if not _SPEC.fullmatch(spec):
        raise ValueError(
            f"format {spec!r} of field {{{name}}} is not allowed; use e.g. "
            "'.2f', '.0%', '>5' (align, sign, width, precision, type d/f/e/%/s)"
        )
    path = tuple(name.split("."))
    if len(path) == 1 and path[0] in _SIMPLE_FIELDS:
        return Field(path, spec)
    if len(path) == 2 and path[0] in _DOTTED_FIELDS and _NAME.fullmatch(path[1]):
        return Field(path, spec)
    raise ValueError(f"unknown field {{{name}}} in message; {expected}")


def literal(text: str) -> Template:
    return Template(text, (text,))
