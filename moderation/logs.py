"""Logging for every process: JSON lines or plain text, one configuration.

``configure`` is called once by each process's entry point (``serve``, the API, the workers).
``MODERATION_LOG_FORMAT`` is ``json`` (one JSON object a line: what log collectors read),
``text``, or ``auto`` (the default: text on a terminal, JSON otherwise, as in a container or
under a process manager). Each comment's state changes are logged as events
(``moderation.state_changes``); the comment's text is never logged unless
``MODERATION_LOG_TEXT=true``, and keys never are.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s {process} %(levelname)s %(name)s: %(message)s"

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process, message, and the record's
    extra fields (``log.info("...", extra={"event": ...})``)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": self.process,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


_include_text = False


def include_text() -> bool:
    """Whether comment text may be logged (``MODERATION_LOG_TEXT``; off by default)."""
    return _include_text


def use_json(log_format: str, stream: Any = None) -> bool:
    if log_format == "auto":
        stream = stream if stream is not None else sys.stderr
        return not (hasattr(stream, "isatty") and stream.isatty())
    return log_format == "json"


def configure(
    *, log_format: str = "auto", log_text: bool = False, process: str = "moderation"
) -> None:
    """Replace the root logger's handlers with one on stderr in the chosen format."""
    global _include_text
    _include_text = log_text
    handler = logging.StreamHandler(sys.stderr)
    if use_json(log_format):
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT.format(process=process)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # uvicorn's loggers pass their records up to this handler (run with log_config=None).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
