"""Coverage of the fit's 95% intervals: refits of synthetic data drawn at known truth.

Problem: the shipped default fit's layout (`tests/_fit_helpers.synthetic`: 4 sporadic
subjects, ALSFRS-R with additive SD 1 and NfL with CV 0.15, 60 rows), estimating
apoptotic_death_rate and nfl_release with both noise SDs, within the recipe's bounds,
4 scrambled-Sobol starts, Levenberg-Marquardt, 60 steps: what `alsjax fit` runs. Each
refit draws fresh noise (seed = first seed + i) at the same truth.

For every refit and parameter: does the Laplace interval (`FitResult.ci_low/ci_high`)
hold the truth, and does the profile-likelihood interval (`profile`, the CLI's default
11 points over +-4 SE)? A profile that stays under the threshold on one side within its
grid is open there (it reaches the bound), and counts as covering on that side. Noise
SDs have Laplace intervals only (they are profiled out in closed form).

A 95% interval should cover 95 of 100; with N refits the binomial 95% range of the
measured coverage is printed beside it (Wilson), so a miss is told from chance.

Usage: python benchmarks/bench_coverage.py [--n 100] [--seed 1000] [--points 11]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the truth and the layout the fit tests use

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from alsjax import fit, make_data, profile  # noqa: E402

from _fit_helpers import ESTIMATE, HUMAN_TRUTH, NOISE, synthetic  # noqa: E402

BOUNDS = {"apoptotic_death_rate": (0.002, 0.03), "nfl_release": (300.0, 15000.0)}
SETTINGS = dict(bounds=BOUNDS, optimiser="lm", n_starts=4, max_steps=60, progress=False)
TRUTH = {**HUMAN_TRUTH, **{f"sigma:{k}": sd for k, (_, sd) in NOISE.items()}}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def covers(low: float, high: float, truth: float) -> bool:
    """Whether [low, high] holds `truth`; a NaN end is an open side (the bound)."""
    return (math.isnan(low) or low <= truth) and (math.isnan(high) or truth <= high)


def coverage(seeds, *, points: int = 11, log=None) -> dict[str, dict[str, int]]:
    """Refit at each seed; per quantity, the number of refits whose Laplace and profile
    intervals hold the truth (`laplace`, `profile`), of `n`; `open` counts profile
    intervals open on a side."""
    counts = {n: dict(laplace=0, profile=0, open=0, n=0) for n in TRUTH}
    for i, seed in enumerate(seeds):
        t0 = time.perf_counter()
        result = fit(make_data(synthetic(HUMAN_TRUTH, seed=seed)), ESTIMATE, **SETTINGS)
        for name, truth in TRUTH.items():
            c = counts[name]
            c["n"] += 1
            c["laplace"] += covers(result.ci_low[name], result.ci_high[name], truth)
        for name in ESTIMATE:
            prof = profile(result, name, points=points)
            c = counts[name]
            c["profile"] += covers(prof.ci_low, prof.ci_high, HUMAN_TRUTH[name])
            c["open"] += math.isnan(prof.ci_low) or math.isnan(prof.ci_high)
        if log is not None:
            log(f"refit {i + 1}/{len(seeds)} (seed {seed}): {time.perf_counter() - t0:.2f} s")
    return counts


def table(counts: dict[str, dict[str, int]], seeds) -> str:
    """A markdown table: per quantity, the coverage of each interval and its binomial
    95% range."""
    lines = [f"Coverage of 95% intervals, default problem, {len(seeds)} refits, data seeds "
             f"{seeds[0]}-{seeds[-1]}",
             "",
             "| quantity | truth | Laplace coverage (Wilson 95%) | profile coverage "
             "(Wilson 95%) | open profiles |",
             "|---|---|---|---|---|"]
    for name, c in counts.items():
        n = c["n"]
        lap = c["laplace"] / n
        lo, hi = wilson(c["laplace"], n)
        cells = [name, f"{TRUTH[name]:g}", f"{lap:.1%} ({lo:.1%}-{hi:.1%})"]
        if name in ESTIMATE:
            plo, phi = wilson(c["profile"], n)
            cells += [f"{c['profile'] / n:.1%} ({plo:.1%}-{phi:.1%})", str(c["open"])]
        else:
            cells += ["(closed form, not profiled)", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="number of refits")
    ap.add_argument("--seed", type=int, default=1000, help="first data seed")
    ap.add_argument("--points", type=int, default=11, help="profile grid points")
    args = ap.parse_args()
    seeds = list(range(args.seed, args.seed + args.n))
    t0 = time.perf_counter()
    counts = coverage(seeds, points=args.points,
                      log=lambda s: print(s, file=sys.stderr, flush=True))
    print(table(counts, seeds))
    print(f"\n{time.perf_counter() - t0:.0f} s in all ({jax.devices()[0].platform}, "
          f"jax {jax.__version__})")


if __name__ == "__main__":
    main()
