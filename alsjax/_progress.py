"""Progress on the terminal: a rich bar that follows `progress(stage, done, total)`.

The library reports progress through a plain callable (`_optimise.Progress`), called
from Python between compiled chunks of work; this module is the terminal's view of it:
a spinner with the elapsed time while a program compiles, then a bar with rate and
time remaining for each stage (fitting, refining, each profile).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


class ProgressBar:
    """A context manager and a `progress(stage, done, total)` callable."""

    def __init__(self, *, transient: bool = True):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description:<22}"),
                             BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                             TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                             transient=transient)
        self._tasks: dict[str, int] = {}
        self._compiling: int | None = None

    def __enter__(self) -> ProgressBar:
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "compiling":
            if self._compiling is None:
                self._compiling = self._bar.add_task("compiling", total=None)
            return
        if self._compiling is not None:
            self._bar.remove_task(self._compiling)
            self._compiling = None
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=total)
        self._bar.update(self._tasks[stage], completed=done, total=total)


@contextlib.contextmanager
def resolve_progress(progress) -> Iterator[Callable[[str, int, int], None] | None]:
    """`progress` as given (a callable or None), or a terminal bar for `True`."""
    if progress is True:
        with ProgressBar() as bar:
            yield bar
    else:
        yield progress or None
