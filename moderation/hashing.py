"""Stable content hashes, so a repeated submission can be told from a changed one."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(*parts: Any) -> str:
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
