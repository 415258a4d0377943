"""The attribute table: Perspective attribute name -> where its score comes from.

The table is data (``attributes.yaml`` beside this module); what each ``source`` means is
code, one entry of :data:`SOURCES` per kind (which scorer outputs it reads, whether it needs
the rules' decision, how the value is formed). Pure: no model, database or Redis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from moderation.exceptions import ConfigurationError

DEFAULT_TABLE_PATH = Path(__file__).resolve().parent / "attributes.yaml"

_WORD = re.compile(r"\w+")


# --- the file's schema -------------------------------------------------------------------


class AttributeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["score", "complement", "unsubstantial", "rules"]
    score: str | None = None
    context: bool = False
    spans: bool = False
    languages: dict[str, list[str]] = Field(min_length=1)
    description: str = ""
    short_words: int | None = Field(default=None, ge=0)
    long_words: int | None = Field(default=None, gt=0)
    reject: float | None = Field(default=None, ge=0, le=1)
    escalate: float | None = Field(default=None, ge=0, le=1)
    approve: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _source_fields(self) -> AttributeSpec:
        needed = SOURCES[self.source].fields
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"source {self.source!r} needs {', '.join(missing)}")
        if self.source == "unsubstantial" and self.short_words >= self.long_words:  # type: ignore[operator]
            raise ValueError("short_words must be less than long_words")
        return self


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, AttributeSpec] = Field(min_length=1)


# --- what the API asks of an attribute ---------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """What an attribute's value is formed from, for one comment."""

    scores: Mapping[str, float]
    words: int
    decision: str | None = None
    """The rules' action (approve, reject, escalate); None when no rule source was asked."""


@dataclass(frozen=True)
class Attribute:
    name: str
    source: str
    score: str | None
    context: bool
    spans: bool
    languages: Mapping[str, tuple[str, ...]]
    description: str
    params: Mapping[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> SourceKind:
        return SOURCES[self.source]

    @property
    def uses_rules(self) -> bool:
        return self.kind.uses_rules

    def languages_for(self, backend: str) -> tuple[str, ...]:
        """The languages this attribute answers for with toxicity backend ``backend``."""
        backend = backend.strip()
        for key in (backend, backend.partition(":")[0], "*"):
            if key in self.languages:
                return self.languages[key]
        return ()

    def required_scores(self) -> tuple[str, ...]:
        return (self.score,) if self.score else ()

    def value(self, inputs: Inputs) -> float:
        return float(min(1.0, max(0.0, self.kind.value(self, inputs))))


@dataclass(frozen=True)
class SourceKind:
    """One kind of ``source``: the spec fields it needs and how it forms the value."""

    name: str
    fields: tuple[str, ...]
    value: Callable[[Attribute, Inputs], float]
    uses_rules: bool = False
    describe: Callable[[Attribute], str] = lambda a: a.source


def _score(attr: Attribute, inputs: Inputs) -> float:
    return inputs.scores[attr.score or ""]


def _complement(attr: Attribute, inputs: Inputs) -> float:
    return 1.0 - inputs.scores[attr.score or ""]


def shortness(words: int, short_words: float, long_words: float) -> float:
    """1 up to ``short_words`` words, 0 from ``long_words`` on, linear between."""
    if words <= short_words:
        return 1.0
    if words >= long_words:
        return 0.0
    return (long_words - words) / (long_words - short_words)


def _unsubstantial(attr: Attribute, inputs: Inputs) -> float:
    short = shortness(inputs.words, attr.params["short_words"], attr.params["long_words"])
    return short * (1.0 - inputs.scores[attr.score or ""])


def _rules(attr: Attribute, inputs: Inputs) -> float:
    if inputs.decision is None:
        raise ValueError(f"attribute {attr.name} needs the rules' decision")
    return attr.params[inputs.decision]


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


SOURCES: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (
        SourceKind("score", ("score",), _score, describe=lambda a: f"`{a.score}`"),
        SourceKind("complement", ("score",), _complement, describe=lambda a: f"1 - `{a.score}`"),
        SourceKind(
            "unsubstantial",
            ("score", "short_words", "long_words"),
            _unsubstantial,
            describe=lambda a: (
                f"shortness x (1 - `{a.score}`); shortness 1 up to "
                f"{a.params['short_words']:g} words, 0 from {a.params['long_words']:g}"
            ),
        ),
        SourceKind(
            "rules",
            ("reject", "escalate", "approve"),
            _rules,
            uses_rules=True,
            describe=lambda a: (
                "the rules' decision: "
                + ", ".join(f"{k} {a.params[k]:g}" for k in ("reject", "escalate", "approve"))
            ),
        ),
    )
}


class AttributeTable:
    """Attributes by name; ``get`` takes ``NAME`` or ``NAME@VERSION`` (version ignored)."""

    def __init__(self, attributes: Sequence[Attribute]) -> None:
        self.attributes: dict[str, Attribute] = {a.name: a for a in attributes}

    def __iter__(self) -> Any:
        return iter(self.attributes.values())

    def get(self, requested: str) -> Attribute | None:
        return self.attributes.get(base_name(requested))

    def backends(self) -> list[str]:
        keys: list[str] = []
        for attr in self:
            keys.extend(k for k in attr.languages if k not in keys)
        return keys

    @classmethod
    def from_spec(cls, spec: TableSpec) -> AttributeTable:
        attributes = []
        for name, item in spec.attributes.items():
            params = {
                key: float(getattr(item, key))
                for key in ("short_words", "long_words", "reject", "escalate", "approve")
                if getattr(item, key) is not None
            }
            attributes.append(
                Attribute(
                    name=name,
                    source=item.source,
                    score=item.score,
                    context=item.context,
                    spans=item.spans,
                    languages={k: tuple(v) for k, v in item.languages.items()},
                    description=item.description,
                    params=params,
                )
            )
        return cls(attributes)


def base_name(requested: str) -> str:
    """``TOXICITY@2`` -> ``TOXICITY``: Perspective accepts a model version after ``@``."""
    return requested.partition("@")[0]


def parse_table(text: str, source: str = "<string>") -> AttributeTable:
    """The table in ``text``; ConfigurationError naming each bad key otherwise."""
    try:
        raw = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ConfigurationError(f"{source}: not valid YAML: {exc}") from exc
    try:
        spec = TableSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{source}: {'.'.join(str(p) for p in err['loc']) or 'top level'}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        ]
        raise ConfigurationError("\n".join(problems)) from exc
    return AttributeTable.from_spec(spec)


@lru_cache
def load_table(path: Path = DEFAULT_TABLE_PATH) -> AttributeTable:
    return parse_table(path.read_text(encoding="utf-8"), str(path))


def markdown_table(table: AttributeTable) -> str:
    """The attribute table as docs/perspective.md shows it (a test keeps the two equal)."""
    backends = ["offline", "detoxify", "detoxify:multilingual"]
    lines = [
        "| Attribute | From | Needs context | Spans | " + " | ".join(backends) + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in backends) + " |",
    ]
    for attr in table:
        langs = [", ".join(attr.languages_for(b)) or "—" for b in backends]
        lines.append(
            f"| `{attr.name}` | {attr.kind.describe(attr)} | {'yes' if attr.context else 'no'} "
            f"| {'yes' if attr.spans else 'no'} | " + " | ".join(langs) + " |"
        )
    return "\n".join(lines)
