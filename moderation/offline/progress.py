"""The one progress bar of the long offline commands (``rules backtest``, ``eval``, ``train``):
what it is doing, done of total with the unit, elapsed time and time left, on stderr::

    scoring toxicity ━━━━━━━━━━━━━━━━━        1536/3200 comments 0:00:41 elapsed 0:00:44 left

It is drawn only when stderr is a terminal (``rich``'s test, which ``FORCE_COLOR`` or
``TTY_COMPATIBLE=1`` overrides): piped or captured, stderr stays as it was, and the command's
report on stdout is never mixed with a bar. Either way the handle counts, so a caller may
read ``done`` after the loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    """The handle a loop advances; draws only when it was given a ``rich`` progress."""

    def __init__(self, progress: Progress | None, task: TaskID | None, total: int | None):
        self._progress = progress
        self._task = task
        self.total = total
        self.done = 0

    @property
    def drawn(self) -> bool:
        return self._progress is not None

    def advance(self, n: int = 1) -> None:
        """``n`` more done."""
        self.done += n
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def note(self, text: str) -> None:
        """A short note after the counts (``loss 0.213``), replacing the last one."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, note=text)


@contextmanager
def progress_bar(
    description: str,
    total: int | None,
    *,
    unit: str = "comments",
    enabled: bool = True,
    console: Console | None = None,
) -> Iterator[ProgressBar]:
    """A bar of ``total`` ``unit`` (None: unknown, no time left) for the ``with`` block.

    ``enabled`` false (``--quiet``, ``--no-progress``) or stderr not a terminal: nothing is
    drawn. ``console``: where to draw (default: stderr), for tests."""
    console = console or Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield ProgressBar(None, None, total)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("elapsed"),
        TimeRemainingColumn(),
        TextColumn("left {task.fields[note]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(description, total=total, note="")
        yield ProgressBar(progress, task, total)
