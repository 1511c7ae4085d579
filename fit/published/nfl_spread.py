"""Serum NfL's spread between patients: the prior's draws against a published cohort.

    python fit/published/nfl_spread.py [--n 2000] [--seed 0]
    python fit/published/nfl_spread.py --decompose   # which parameters spread NfL, survival;
                                                    # then narrower spreads tried

Why: a prior whose draws die as a cohort does (prior_centre.py) should also spread a
biomarker as a cohort does. The published number is the log-scale SD of serum NfL in 30
patients (data/published/sugimoto2020_serum_nfl_subgroups.csv), pooled from subgroup
medians and quartiles (`pooled_log_sd`). The model's: serum NfL one year after onset over
sporadic human draws alive then, under the population prior and the preset-centred one,
each also with the four NfL parameters held at their medians (so the rest is the
cascade's own spread), and the medians either side of a progression rate of 0.49 ALSFRS-R
points a month (the published split: 45.8 against 96.4 pg/mL). NfL feeds nothing back, so
the survival calibration does not depend on any of this.

Prints one line per prior; docs/validation.md, *Heterogeneity*, quotes them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python fit/published/nfl_spread.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import alsjax  # noqa: E402
from alsjax import _priors  # noqa: E402

SUGIMOTO = (Path(__file__).resolve().parents[2]
            / "data/published/sugimoto2020_serum_nfl_subgroups.csv")
NFL_PARAMETERS = ("nfl_baseline", "nfl_release", "nfl_clearance", "nfl_injury_release")
YEAR = 365.25
IQR_PER_SD = 1.349  # a normal's interquartile range in SDs
PROGRESSION_SPLIT = 0.49  # ALSFRS-R points a month, the published table's split


def pooled_log_sd(table: pd.DataFrame, grouping: str) -> float:
    """The log-scale SD of a cohort given as subgroups' medians and quartiles: a mixture of
    log-normals (each of SD ln(q75 / q25) / 1.349), weighted by the subgroups' n."""
    g = table[table["grouping"] == grouping]
    n, mu = g["n"].to_numpy(float), np.log(g["value"].to_numpy(float))
    sd = np.log(g["q75"].to_numpy(float) / g["q25"].to_numpy(float)) / IQR_PER_SD
    mean = np.sum(n * mu) / n.sum()
    return float(np.sqrt(np.sum(n * (sd**2 + (mu - mean) ** 2)) / n.sum()))


def draws_nfl(population: bool, fixed_nfl: bool, n: int, seed: int):
    """(log NfL one year after onset, progression rate to then) of the draws alive then."""
    saved = {k: _priors.RANGES[k] for k in NFL_PARAMETERS}
    if fixed_nfl:
        for k in NFL_PARAMETERS:
            _priors.RANGES[k] = saved[k]._replace(spread=1.0)
    try:
        params = alsjax.prior("sporadic", "human", population=population).sample(
            jax.random.key(seed), n)
    finally:
        _priors.RANGES.update(saved)
    return nfl_one_year_after_onset(params, alsjax.simulate_batch(
        params, jnp.asarray([0.0, 20 * YEAR])))


def variance_shares(y: np.ndarray, x: np.ndarray, names) -> tuple[float, dict[str, float]]:
    """A linear regression of `y` on the standardised stored values `x` (one column per
    parameter that varies): its R^2 and each parameter's share of var(y), beta^2 / var(y)
    (the parameters are drawn independently, so the shares add up to R^2)."""
    z = (x - x.mean(0)) / x.std(0)
    a = np.column_stack([np.ones(len(y)), z])
    beta, *_ = np.linalg.lstsq(a, y, rcond=None)
    r2 = 1.0 - np.var(y - a @ beta) / np.var(y)
    return float(r2), dict(zip(names, beta[1:] ** 2 / np.var(y), strict=True))


PROTEOSTASIS = ("misfolding_rate", "clearance_rate")


def narrowed(prior: alsjax.Prior, factors: dict[str, float]) -> alsjax.Prior:
    """`prior` with the spreads (scale on the stored value) of some parameters multiplied."""
    scale = dataclasses.replace(prior.scale, **{k: getattr(prior.scale, k) * f
                                                for k, f in factors.items()})
    return dataclasses.replace(prior, scale=scale)


def what_if(n: int, seed: int) -> None:
    """The decomposition's prediction tried: the NfL parameters without spread, then also
    the two proteostasis rates at half their log spread (not a shipped prior)."""
    base = alsjax.prior("sporadic", "human", population=True)
    fixed = {k: 0.0 for k in NFL_PARAMETERS}
    for label, prior in (("population prior", base),
                         ("NfL parameters fixed", narrowed(base, fixed)),
                         ("and proteostasis rates at half their log spread",
                          narrowed(base, fixed | dict.fromkeys(PROTEOSTASIS, 0.5)))):
        params = prior.sample(jax.random.key(seed), n)
        sol = alsjax.simulate_batch(params, jnp.asarray([0.0, 20 * YEAR]))
        onset, death = np.asarray(sol.events["onset"]), np.asarray(sol.events["death"])
        ok = np.asarray(sol.success) & np.isfinite(onset) & np.isfinite(death)
        months = (death[ok] - onset[ok]) / YEAR * 12
        print(f"{label}: NfL {describe(*nfl_one_year_after_onset(params, sol))}; survival "
              f"from onset median {np.median(months):.1f} months, log SD "
              f"{np.log(months).std():.2f}, p10-p90 {np.percentile(months, 10):.1f}-"
              f"{np.percentile(months, 90):.1f}")


def nfl_one_year_after_onset(params, sol):
    """(log NfL one year after onset, progression rate to then) of the draws alive then,
    from their 20-year solve `sol`."""
    onset, death = np.asarray(sol.events["onset"]), np.asarray(sol.events["death"])
    alive = np.asarray(sol.success) & np.isfinite(onset) & (death > onset + YEAR)
    sub = jax.tree.map(lambda a: a[alive], params)
    at = alsjax.simulate_batch(sub, jnp.asarray(np.stack([onset[alive],
                                                          onset[alive] + YEAR], axis=1)))
    log_nfl = np.log(np.asarray(at.observables["nfl"])[:, 1])
    rate = (48.0 - np.asarray(at.observables["alsfrs_r"])[:, 1]) / 12.0
    return log_nfl, rate


def decompose(n: int, seed: int) -> None:
    """Which parameters spread log NfL (one year after onset) and log survival from onset
    between the population prior's draws: the ten largest shares of each."""
    params = alsjax.prior("sporadic", "human", population=True).sample(jax.random.key(seed), n)
    sol = alsjax.simulate_batch(params, jnp.asarray([0.0, 20 * YEAR]))
    onset, death = np.asarray(sol.events["onset"]), np.asarray(sol.events["death"])
    ok = np.asarray(sol.success) & np.isfinite(onset) & np.isfinite(death)
    alive = ok & (death > onset + YEAR)
    at = alsjax.simulate_batch(jax.tree.map(lambda a: a[alive], params), jnp.asarray(
        np.stack([onset[alive], onset[alive] + YEAR], axis=1)))
    x = np.stack([np.asarray(getattr(params, k)) for k in alsjax.PARAMETER_NAMES], axis=1)
    varies = x.std(0) > 1e-12
    names = [k for k, v in zip(alsjax.PARAMETER_NAMES, varies, strict=True) if v]
    for label, y, rows in (
            ("log NfL one year after onset", np.log(np.asarray(at.observables["nfl"])[:, 1]),
             alive),
            ("log survival from onset", np.log(death[ok] - onset[ok]), ok)):
        r2, shares = variance_shares(y, x[rows][:, varies], names)
        top = sorted(shares, key=shares.get, reverse=True)[:10]
        print(f"{label}: {y.size} draws, log SD {y.std():.2f}, linear R^2 {r2:.2f}; shares "
              "of the variance: " + ", ".join(f"{k} {shares[k]:.3f}" for k in top))


def describe(log_nfl: np.ndarray, rate: np.ndarray) -> str:
    p10, p50, p90 = np.exp(np.percentile(log_nfl, [10, 50, 90]))
    slow = rate <= PROGRESSION_SPLIT
    return (f"{log_nfl.size} draws: log SD {log_nfl.std():.2f}, median {p50:.0f} pg/mL "
            f"(p10-p90 {p10:.0f}-{p90:.0f}); progression <= {PROGRESSION_SPLIT}: "
            f"{slow.sum()} draws, median {np.exp(np.median(log_nfl[slow])):.0f}, faster: "
            f"{np.exp(np.median(log_nfl[~slow])):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="draws per prior")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decompose", action="store_true",
                        help="instead: which parameters spread NfL and survival")
    args = parser.parse_args()
    if args.decompose:
        decompose(args.n, args.seed)
        what_if(args.n, args.seed)
        return
    table = pd.read_csv(SUGIMOTO)
    print("published (Sugimoto 2020): log SD "
          + ", ".join(f"{pooled_log_sd(table, g):.3f} by {g}"
                      for g in ("site_of_onset", "kings_stage")))
    for population in (True, False):
        for fixed in (False, True):
            label = ("population prior" if population else "preset-centred prior") + (
                ", NfL parameters at their medians" if fixed else "")
            print(f"{label}: {describe(*draws_nfl(population, fixed, args.n, args.seed))}")


if __name__ == "__main__":
    main()
