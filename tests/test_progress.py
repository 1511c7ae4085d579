"""The terminal's estimate of a long stage: its rate read as people read it."""

import pytest

from alsjax import _progress
from alsjax._progress import _Estimator, _rate


@pytest.mark.parametrize("per_s, text", [
    (3200.0, "3,200 steps/s"), (2.5, "2.5 steps/s"), (0.25, "4.0 s/step"),
])
def test_rate(per_s, text):
    assert _rate(per_s) == text


def test_a_stage_that_counts_replicates_says_so():
    """The VPC's stage ("simulating") counts replicates, not steps."""
    assert _rate(12.0, "simulating") == "12 replicates/s"
    assert _rate(0.5, "simulating") == "2.0 s/replicate"
    lines = []
    view = _progress.ProgressLines()
    view._say = lines.append
    view("simulating", 0, 200)
    assert lines == ["simulating: 0/200 replicates"]


def test_slow_stage_estimate(monkeypatch):
    """A stage of 100 steps at 20 s a step (a large population fit's whole-cohort
    evaluations): the line says 20 s a step and about 33 min for the 99 steps left, not
    "0 steps/s"."""
    clock = iter([0.0, 20.0])
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: next(clock))
    est = _Estimator()
    assert est.line("fitting", 0, 100) is None  # the stage's start
    line = est.line("fitting", 1, 100)
    assert line.startswith("fitting: about 33 min to go at 20.0 s/step"), line


def test_only_optimiser_stages_speak_of_starts(monkeypatch):
    """The estimate's note on starts converging early belongs to optimiser stages; a file's
    chunks ("writing") or a population fit's uncertainty evaluations have no starts."""
    for stage, starts in (("fitting", True), ("profiling nfl_release", True),
                          ("writing", False), ("uncertainty", False)):
        clock = iter([0.0, 20.0])
        monkeypatch.setattr(_progress.time, "perf_counter", lambda clock=clock: next(clock))
        est = _Estimator()
        est.line(stage, 0, 100)
        line = est.line(stage, 1, 100)
        assert line.startswith(f"{stage}: about 33 min to go"), line
        assert ("over all starts" in line) is starts, line
