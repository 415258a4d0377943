"""Pydantic building blocks shared by the condition types and the rules-file models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator


class StrictModel(BaseModel):
    """Forbids unknown keys and is strict about types: YAML already gives typed values, so
    ``priority: "5"`` is a mistake, not something to coerce."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def describe(value: Any) -> str:
    """A value as an error message shows it."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


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


ListRef = Annotated[str | tuple[str, ...], PlainValidator(_list_ref)]
"""The name of a list from ``lists:``, or the entries inline."""
NonEmptyStr = Annotated[str, Field(min_length=1)]
