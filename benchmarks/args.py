"""Command-line value types shared by the benchmarks' parsers."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def counts(example: str) -> Callable[[str], list[int]]:
    """An argparse type for comma-separated counts >= 1 (``example`` shows the form)."""

    def parse(value: str) -> list[int]:
        try:
            found = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected counts like {example}; got {value!r}"
            ) from None
        if not found or any(c < 1 for c in found):
            raise argparse.ArgumentTypeError(f"expected counts >= 1 like {example}; got {value!r}")
        return found

    return parse
