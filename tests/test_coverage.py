"""Coverage of the 95% intervals, measured: 100 refits of the default problem at known
truth (fresh noise each), as `benchmarks/bench_coverage.py` runs them (slow: ~5-10 min).

Each coverage is a binomial proportion over 100 refits, so 95% nominal reads anywhere in
about 90-99%; the test asks that its Wilson 95% interval overlaps the target 90-98%, i.e.
that the data give no evidence the coverage lies outside it. The seeds are fixed in
advance (1000-1099) and a failure is reported, never re-seeded. Measured on 200 refits
(seeds 1000-1199): Laplace 91.0% and profile 91.5% for apoptotic_death_rate, 93.5% and
94.5% for nfl_release.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_coverage import ESTIMATE, TRUTH, coverage, wilson  # noqa: E402


@pytest.mark.slow
def test_interval_coverage_on_the_default_problem():
    seeds = list(range(1000, 1100))
    counts = coverage(seeds)
    for name in TRUTH:
        methods = ("laplace", "profile") if name in ESTIMATE else ("laplace",)
        for method in methods:
            low, high = wilson(counts[name][method], counts[name]["n"])
            assert high >= 0.90 and low <= 0.98, (name, method, counts[name])
