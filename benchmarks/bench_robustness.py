"""Do parameter sets drawn from the priors solve, stay physical, and vary like patients do?

    python benchmarks/bench_robustness.py [--n 10000] [--seed 0] [--only sporadic/human]
                                           [--preset-prior]

For every human genotype and the SOD1-G93A mouse: draw N parameter sets from
`alsjax._priors.prior(genotype, species)` (the population prior; `--preset-prior`: the one
centred on the preset), solve them with `simulate_batch` at the default
tolerances and step limit over 20 years (mouse: 1 year of age) on a 201-point grid, and
print one table row:

- success: solver finished (no step-limit hit, no NaN);
- in bounds: every solved state finite, fractions (apoptosis, mitochondria, microglia,
  astrocytes, toxic glia, UMN, LMN, muscle, respiratory MN and muscle) in 0..1,
  concentrations >= 0, ALSFRS-R in 0..48 and FVC in 0..120 at every grid time (tolerance
  1e-6);
- onset / death: share of draws with symptom onset, and with death, within the horizon;
- survival from onset (months; a draw without death is censored at infinity, so a
  percentile past the censored share reads "inf");
- ALSFRS-R slope (points/month) from onset to death, as tests/test_model.py measures the
  presets, and over the first year after onset (to death if sooner), as trials measure it;
- correlation of survival with each slope over draws with both events, Pearson and rank
  (Spearman): the slope is close to (lost points) / survival, a curved relation, so the
  Pearson coefficient understates how tightly the two are tied;
- solver steps (accepted + rejected): 99th percentile and largest, against the limit of
  4096;
- wall time of the solves (including compilation on the first row).

Published heterogeneity to compare with: median survival about 3 years from onset, about
10 % surviving more than 10 years; ALSFRS-R slopes from about 0.2 to more than 2
points/month (PRO-ACT; see /work/shared/research/published-numbers.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/bench_robustness.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import alsjax  # noqa: E402
from alsjax._priors import prior  # noqa: E402

DAYS_PER_MONTH = 365.25 / 12
HORIZON = {"human": 20 * 365.25, "mouse": 365.0}
N_TIMES = 201
TOL = 1e-6
FRACTIONS = ("apoptosis", "mitochondria", "microglia", "astrocytes", "toxic_glia", "umn",
             "lmn", "muscle", "respiratory_mn", "respiratory_muscle")
CASES = [(g, "human") for g in alsjax.GENOTYPES] + [("SOD1", "mouse")]


def in_bounds(sol) -> np.ndarray:
    """Per draw: every state and observable within its physical range at every time."""
    ys = np.asarray(sol.ys)
    idx = [alsjax.STATE_NAMES.index(n) for n in FRACTIONS]
    ok = np.all(np.isfinite(ys), axis=(1, 2)) & np.all(ys >= -TOL, axis=(1, 2))
    ok &= np.all(ys[..., idx] <= 1 + TOL, axis=(1, 2))
    score, fvc = np.asarray(sol.observables["alsfrs_r"]), np.asarray(sol.observables["fvc"])
    ok &= np.all((score >= -TOL) & (score <= 48 + TOL), axis=1)
    ok &= np.all((fvc >= -TOL) & (fvc <= 120 + TOL), axis=1)
    return ok


def slopes(params, onset, death):
    """ALSFRS-R decline (points/month) onset -> death and over the first year after onset."""
    year = np.minimum(onset + 365.25, death)
    ts = np.stack([onset, year, death], axis=1)
    sol = alsjax.simulate_batch(params, jnp.asarray(ts))
    score = np.asarray(sol.observables["alsfrs_r"])
    whole = (score[:, 0] - score[:, 2]) / ((death - onset) / DAYS_PER_MONTH)
    first = (score[:, 0] - score[:, 1]) / ((year - onset) / DAYS_PER_MONTH)
    return whole, first


def pct(x: np.ndarray) -> str:
    if x.size == 0:
        return "-"
    p10, p50, p90 = np.percentile(x, [10, 50, 90], method="nearest")
    return f"{p50:.2f} ({p10:.2f}-{p90:.2f})"


def row(genotype: str, species: str, n: int, seed: int, population: bool = True) -> list[str]:
    params = prior(genotype, species, population=population).sample(jax.random.key(seed), n)
    ts = jnp.linspace(0.0, HORIZON[species], N_TIMES)
    t0 = time.perf_counter()
    sol = jax.block_until_ready(alsjax.simulate_batch(params, ts))
    wall = time.perf_counter() - t0
    ok = np.asarray(sol.success)
    nsteps = np.asarray(sol.num_steps)
    steps = f"{np.percentile(nsteps, 99):.0f} / {nsteps.max()}"
    bounds = in_bounds(sol)
    onset, death = np.asarray(sol.events["onset"]), np.asarray(sol.events["death"])
    ill = ok & np.isfinite(onset)
    both = ill & np.isfinite(death)
    survival = np.full(n, np.inf)
    survival[both] = (death[both] - onset[both]) / DAYS_PER_MONTH
    survival = survival[ill]
    sub = jax.tree.map(lambda a: a[both], params)
    t0 = time.perf_counter()
    whole, first = slopes(sub, onset[both], death[both]) if both.any() else (np.zeros(0),) * 2
    wall += time.perf_counter() - t0
    months = survival[both[ill]]
    corr = [f"{np.corrcoef(months, s)[0, 1]:.2f} / {stats.spearmanr(months, s)[0]:.2f}"
            if s.size > 2 else "-" for s in (whole, first)]
    return [genotype, species, str(n), f"{100 * ok.mean():.2f}", f"{100 * bounds.mean():.2f}",
            f"{100 * ill.mean():.1f}", f"{100 * both.mean():.1f}", pct(survival),
            pct(whole), pct(first), *corr, steps, f"{wall:.0f}"]


HEADER = ["genotype", "species", "N", "success %", "in bounds %", "onset %", "death %",
          "survival, months: median (p10-p90)", "slope onset-death: median (p10-p90)",
          "slope first year: median (p10-p90)", "corr(survival, slope): Pearson / Spearman",
          "corr(survival, 1st-year slope): Pearson / Spearman", "steps p99 / max", "wall s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="draws per genotype and species")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed of the draws")
    parser.add_argument("--only", default=None, help="one case, e.g. sporadic/human")
    parser.add_argument("--preset-prior", action="store_true",
                        help="draw from the prior centred on the preset (population=False), "
                             "as the runs before 2026-12-05 08:00 did")
    args = parser.parse_args()
    cases = [c for c in CASES if args.only in (None, "/".join(c))]
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for genotype, species in cases:
        cells = row(genotype, species, args.n, args.seed, population=not args.preset_prior)
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
