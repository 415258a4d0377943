"""Scores on Perspective's scale: one increasing map per score, fitted on comments that
Perspective itself scored, so that a client's threshold means what it meant with Perspective.

The offline model ranks comments well on Perspective's attributes but its levels differ: its
stacks are fitted with both classes counting equally, so a rare label such as ``threat``
sits far above Perspective's probability on a toxic comment (on Perspective's own sample,
half the comments at ``threat`` 0.5 or more against an eighth by Perspective). A client that
flags at ``THREAT`` 0.8 would flag a third of them. The map moves each score to the value of
the same rank among Perspective's scores of the same comments (quantile mapping: increasing,
so every ranking, ROC-AUC and rank correlation stays as it was), and only the Perspective
API answers on it; the rules, the review queue and ``/v1/comments`` keep the model's scale,
which the rules' thresholds are set on.

A map is fitted for one model file (``moderation train --shared DATA --perspective-scale``)
and names its SHA-256: loaded beside another model it is not used (a logged warning), since
the levels it corrects are that model's. This module holds the map, the file's schema and
the fit; reading the file is :func:`load_scale`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from moderation.exceptions import ConfigurationError

log = logging.getLogger(__name__)

SCALE_FORMAT = "perspective-scale/1"

DEFAULT_KNOTS = 21
"""Points of a fitted map: Perspective's and the model's scores at every 5th percentile."""


@dataclass(frozen=True)
class ScoreMap:
    """Piecewise linear and increasing from (0, 0) to (1, 1) through the knots ``(x, y)``."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, value: float) -> float:
        v = min(1.0, max(0.0, float(value)))
        i = min(max(bisect_right(self.x, v), 1), len(self.x) - 1)
        x0, x1, y0, y1 = self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]
        return y0 + (y1 - y0) * (v - x0) / (x1 - x0)


@dataclass(frozen=True)
class ScoreScale:
    """Score name -> its map; a score without one keeps its value."""

    maps: Mapping[str, ScoreMap] = field(default_factory=dict)
    model_sha256: str | None = None
    """The model file the maps were fitted for (None: none, the model's own scale)."""

    def value(self, name: str, value: float) -> float:
        found = self.maps.get(name)
        return float(value) if found is None else found(value)

    def apply(self, scores: Mapping[str, float]) -> dict[str, float]:
        return {name: self.value(name, value) for name, value in scores.items()}


NATIVE = ScoreScale()
"""No map: every score as the model gives it."""


# --- the file --------------------------------------------------------------------------


class MapSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str = Field(min_length=1)
    """Perspective's attribute whose scores the map was fitted on (``THREAT``)."""
    x: list[float] = Field(min_length=2)
    y: list[float] = Field(min_length=2)

    @field_validator("x", "y")
    @classmethod
    def _knots(cls, values: list[float]) -> list[float]:
        if values[0] != 0.0 or values[-1] != 1.0:
            raise ValueError("must run from 0 to 1")
        for before, after in zip(values, values[1:], strict=False):
            if not after > before:
                raise ValueError(f"must increase strictly ({before} then {after})")
        return values

    @model_validator(mode="after")
    def _same_length(self) -> MapSpec:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} knots and y {len(self.y)}: they must match")
        return self


class ScaleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["perspective-scale/1"]
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    fitted_on: str = Field(min_length=1)
    command: str = ""
    maps: dict[str, MapSpec] = Field(min_length=1)
    held_out: list[dict[str, Any]] = Field(default_factory=list)
    """How the map did on comments it was not fitted on (reported, not used)."""


def parse_scale(text: str, source: str = "<string>") -> ScoreScale:
    """The scale a file holds; every error at once, each naming the file and the field."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    try:
        spec = ScaleSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{source}: {'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigurationError("\n".join(problems)) from None
    maps = {name: ScoreMap(tuple(m.x), tuple(m.y)) for name, m in spec.maps.items()}
    return ScoreScale(maps=maps, model_sha256=spec.model_sha256)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, remembered per (path, inode, size, modification time):
    every API app created in a process checks the same 3.3 MB model file, read once."""
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_of(path: str, inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_scale(path: Path, model_path: Path) -> ScoreScale:
    """The maps in ``path`` if they were fitted for ``model_path``; else :data:`NATIVE`
    (no file: nothing to say; another model's file: a warning, since a retrained model
    needs its own fit)."""
    if not path.exists():
        return NATIVE
    scale = parse_scale(path.read_text(encoding="utf-8"), str(path))
    found = file_sha256(model_path) if model_path.exists() else None
    if scale.model_sha256 != found:
        log.warning(
            "%s was fitted for another model file than %s (sha256 %s, not %s): the "
            "Perspective API answers on the model's own scale; fit it again with "
            "`moderation train --shared DATA --perspective-scale`",
            path,
            model_path,
            (scale.model_sha256 or "")[:12],
            (found or "absent")[:12],
        )
        return NATIVE
    return scale


# --- the fit ---------------------------------------------------------------------------


def fit_map(ours: Sequence[float], theirs: Sequence[float], knots: int = DEFAULT_KNOTS) -> ScoreMap:
    """The quantile map from ``ours`` to ``theirs`` (two sets of scores of the same comments,
    or of two samples of one stream): knot ``k`` joins the two ``k/(knots-1)`` quantiles,
    from (0, 0) to (1, 1); ties are broken upwards by 1e-6 so the map increases strictly."""
    import numpy as np

    if knots < 2:
        raise ValueError("a map needs at least 2 knots")
    if len(ours) < 2 or len(theirs) < 2:
        raise ValueError("a map needs at least 2 scores on each side")
    levels = np.linspace(0.0, 1.0, knots)
    x = np.clip(np.quantile(np.asarray(ours, dtype=np.float64), levels), 0.0, 1.0)
    y = np.clip(np.quantile(np.asarray(theirs, dtype=np.float64), levels), 0.0, 1.0)
    x[0] = y[0] = 0.0
    x[-1] = y[-1] = 1.0
    return ScoreMap(_increasing(x), _increasing(y))


def _increasing(values: Any) -> tuple[float, ...]:
    """``values`` (from 0 to 1) rounded to 6 places and made strictly increasing: each at
    least 1e-6 above the one before, stepped down from 1 where ties sit at the top."""
    out = [0.0]
    for value in values[1:-1]:
        out.append(max(round(float(value), 6), round(out[-1] + 1e-6, 6)))
    out.append(1.0)
    for i in range(len(out) - 2, 0, -1):
        out[i] = min(out[i], round(out[i + 1] - 1e-6, 6))
    return tuple(out)


def scale_document(
    maps: Mapping[str, tuple[str, ScoreMap]],
    *,
    model_sha256: str,
    fitted_on: str,
    command: str,
    held_out: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The file's text for ``maps`` (score name -> (Perspective attribute, map))."""
    document = {
        "format": SCALE_FORMAT,
        "model_sha256": model_sha256,
        "fitted_on": fitted_on,
        "command": command,
        "maps": {
            name: {"attribute": attribute, "x": list(m.x), "y": list(m.y)}
            for name, (attribute, m) in maps.items()
        },
        "held_out": [dict(row) for row in held_out],
    }
    text = json.dumps(document, indent=1) + "\n"
    parse_scale(text)  # what is written reads back
    return text
