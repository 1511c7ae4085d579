"""Progress on the terminal: a rich bar, or plain lines in a log, following the library's
`progress(stage, done, total)` calls.

The library reports progress through a plain callable (`_optimise.Progress`), called
from Python between compiled chunks of work; this module is the terminal's view of it:
a spinner with the elapsed time while a program compiles, then a bar with rate and
time remaining for each stage (fitting, refining, each profile, writing the outputs).
Before a long stage, one line estimates its run time from its first chunk. Where stderr
is not a terminal (a log file, a pipe), the same events are plain lines instead.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

ESTIMATE_FROM_S = 15.0
"""Say how long a stage will take when its estimate is longer than this (seconds)."""
OPTIMISER_STAGES = ("fitting", "refining", "profiling")
"""Stages whose steps are optimiser steps of several starts (the others: a report's
parts, a population fit's uncertainty evaluations, a file's chunks)."""


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


UNITS = {"simulating": ("replicate", "replicates")}
"""What a stage counts, where not steps: (one, many)."""


def _units(stage: str) -> tuple[str, str]:
    return UNITS.get(stage, ("step", "steps"))


def _rate(steps_per_s: float, stage: str = "") -> str:
    """A rate people read at a glance: steps/s, or seconds a step when slower than one a
    second (a population fit's steps are whole-cohort evaluations); in the stage's own
    units where it counts something else (`UNITS`)."""
    one, many = _units(stage)
    if steps_per_s >= 10:
        return f"{steps_per_s:,.0f} {many}/s"
    if steps_per_s >= 1:
        return f"{steps_per_s:.1f} {many}/s"
    return f"{1.0 / max(steps_per_s, 1e-9):.1f} s/{one}"


class _Estimator:
    """The rate of a stage from its first chunks: the first chunk carries warm-up and the
    next ones are short (per-chunk overhead dominates), so the rate is that of the first
    chunk to end `WARM_S` seconds or more into the stage."""

    WARM_S = 1.0

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, tuple[float, int]] = {}
        self.said: set[str] = set()

    def line(self, stage: str, done: int, total: int) -> str | None:
        """A one-line estimate once per stage, if the stage is long; else None."""
        now = time.perf_counter()
        t_prev, d_prev = self.last.get(stage, (now, done))
        self.last[stage] = (now, done)
        if stage not in self.first:
            self.first[stage] = now
            return None
        if stage in self.said or done >= total or done <= d_prev:
            return None
        if now - self.first[stage] < self.WARM_S:
            return None
        self.said.add(stage)
        rate = (done - d_prev) / max(now - t_prev, 1e-9)  # the latest (full-size) chunk
        left = (total - done) / rate
        if left < ESTIMATE_FROM_S:
            return None
        line = f"{stage}: about {_duration(left)} to go at {_rate(rate, stage)}"
        if stage.startswith(OPTIMISER_STAGES):  # steps of every start, some ending early
            line += f" ({total} steps over all starts; starts that converge early end sooner)"
        return line


class ProgressBar:
    """A context manager and a `progress(stage, done, total)` callable: a rich bar on
    stderr."""

    def __init__(self, *, transient: bool = True):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task) -> Text:
                speed = task.finished_speed or task.speed
                return Text("" if not speed or task.total is None
                            else _rate(speed, task.description))

        class Eta(ProgressColumn):  # nothing while compiling: its length is unknown
            def render(self, task) -> Text:
                if task.total is None:
                    return Text("")
                return Text("eta ") + TimeRemainingColumn().render(task)

        class Steps(ProgressColumn):
            def render(self, task) -> Text:
                if task.total is None:
                    return Text("")
                return MofNCompleteColumn().render(task) + Text(
                    f" {_units(task.description)[1]}")

        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description:<26}"),
                             BarColumn(), Steps(), Rate(), TimeElapsedColumn(), Eta(),
                             transient=transient, console=Console(stderr=True))
        self._tasks: dict[str, int] = {}
        self._compiling: int | None = None
        self._estimate = _Estimator()

    def __enter__(self) -> ProgressBar:
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the bar off the terminal (idempotent; Ctrl-C calls it from the main
        thread while the run's thread may still report)."""
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
        line = self._estimate.line(stage, done, total)
        if line:
            self._bar.console.print(line)


class ProgressLines:
    """The same events as plain lines (for logs): each compilation, each stage's start,
    the estimate of a long stage, and each stage's end with its time."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._started: dict[str, float] = {}
        self._ended: set[str] = set()
        self._compile_start: float | None = None
        self._estimate = _Estimator()

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def stop(self) -> None:
        pass

    def _say(self, text: str) -> None:
        stream = self._stream or sys.stderr
        print(f"alsjax: {text}", file=stream, flush=True)

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage == "compiling":
            if self._compile_start is None:
                self._compile_start = now
                self._say("compiling")
            return
        if self._compile_start is not None:
            self._say(f"compiled in {now - self._compile_start:.1f} s")
            self._compile_start = None
        if stage not in self._started:
            self._started[stage] = now
            self._say(f"{stage}: {done}/{total} {_units(stage)[1]}")
        line = self._estimate.line(stage, done, total)
        if line:
            self._say(line)
        if done >= total and stage not in self._ended:
            self._ended.add(stage)
            self._say(f"{stage}: done in {now - self._started[stage]:.1f} s")


def terminal_progress() -> ProgressBar | ProgressLines:
    """A bar where stderr is a terminal, plain lines elsewhere."""
    isatty = getattr(sys.stderr, "isatty", None)
    return ProgressBar() if isatty is not None and isatty() else ProgressLines()


@contextlib.contextmanager
def resolve_progress(progress) -> Iterator[Callable[[str, int, int], None] | None]:
    """`progress` as given (a callable or None), or the terminal's view for `True`."""
    if progress is True:
        with terminal_progress() as bar:
            yield bar
    else:
        yield progress or None
