"""Serum NfL's spread between patients: the prior's draws against a published cohort.

    python fit/published/nfl_spread.py [--n 2000] [--seed 0] [--preset-version V]
    python fit/published/nfl_spread.py --decompose   # which parameters spread NfL, survival;
                                                    # then narrower spreads tried

Why: a prior whose draws die as a cohort does (prior_centre.py) should also spread a
biomarker as a cohort does. The published number is the log-scale SD of serum NfL in 30
patients (data/published/sugimoto2020_serum_nfl_subgroups.csv), pooled from subgroup
medians and quartiles (`pooled_log_sd`). The model's: serum NfL one year after onset over
sporadic human draws alive then, under the population prior and the preset-centred one
(of `--preset-version`, the newest by default; with the newest, also 2026.12.6's population
prior, the one before NfL's spread was calibrated), each also with the four NfL parameters
held at their medians (so the rest is the cascade's own spread), and the medians either
side of a progression rate of 0.49 ALSFRS-R points a month (the published split: 45.8
against 96.4 pg/mL). Since 2026.12.7 the population prior's log SD is fitted
(prior_centre.py); the split is not.

Prints one line per prior; docs/validation.md, *Heterogeneity*, quotes them.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
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

SUGIMOTO = (Path(__file__).resolve().parents[2]
            / "data/published/sugimoto2020_serum_nfl_subgroups.csv")
NFL_PARAMETERS = ("nfl_baseline", "nfl_release", "nfl_clearance", "nfl_injury_release")
YEAR = 365.25
IQR_PER_SD = 1.349  # a normal's interquartile range in SDs
PROGRESSION_SPLIT = 0.49  # ALSFRS-R points a month, the published table's split
# Sugimoto 2020's groups either side of it (not rows of the CSV: they leave 4 patients
# out; sugimoto2020_serum_nfl_subgroups.md): median, quartiles (pg/mL) and n.
SLOWER, FASTER = (45.8, 28.3, 58.3, 13), (96.4, 71.1, 132.4, 13)


def pooled_log_sd(table: pd.DataFrame, grouping: str) -> float:
    """The log-scale SD of a cohort given as subgroups' medians and quartiles: a mixture of
    log-normals (each of SD ln(q75 / q25) / 1.349), weighted by the subgroups' n."""
    g = table[table["grouping"] == grouping]
    n, mu = g["n"].to_numpy(float), np.log(g["value"].to_numpy(float))
    sd = np.log(g["q75"].to_numpy(float) / g["q25"].to_numpy(float)) / IQR_PER_SD
    mean = np.sum(n * mu) / n.sum()
    return float(np.sqrt(np.sum(n * (sd**2 + (mu - mean) ** 2)) / n.sum()))


def published_split() -> tuple[float, float, float]:
    """The faster group's median NfL over the slower's, and an approximate 95 % interval:
    each log median's SE is 1.2533 sigma / sqrt(n) (a median's, for a normal), sigma from
    the group's quartiles as in `pooled_log_sd`."""
    (m0, a0, b0, n0), (m1, a1, b1, n1) = SLOWER, FASTER
    se = math.hypot(*(1.2533 * math.log(b / a) / IQR_PER_SD / math.sqrt(n)
                      for a, b, n in ((a0, b0, n0), (a1, b1, n1))))
    log_ratio = math.log(m1 / m0)
    return math.exp(log_ratio), math.exp(log_ratio - 1.96 * se), math.exp(log_ratio + 1.96 * se)


PROTEOSTASIS = ("misfolding_rate", "clearance_rate")
FIXED_NFL = dict.fromkeys(NFL_PARAMETERS, 0.0)  # spread factors: the NfL parameters fixed


def narrowed(prior: alsjax.Prior, factors: dict[str, float]) -> alsjax.Prior:
    """`prior` with the spreads (scale on the stored value) of some parameters multiplied."""
    scale = dataclasses.replace(prior.scale, **{k: getattr(prior.scale, k) * f
                                                for k, f in factors.items()})
    return dataclasses.replace(prior, scale=scale)


def solved_draws(prior: alsjax.Prior, n: int, seed: int, horizon: float = 20 * YEAR):
    """`n` draws of `prior` and their solve to `horizon` (days), with each draw's onset
    and death days (inf: none by then)."""
    params = prior.sample(jax.random.key(seed), n)
    sol = alsjax.simulate_batch(params, jnp.asarray([0.0, horizon]))
    return params, sol, np.asarray(sol.events["onset"]), np.asarray(sol.events["death"])


def nfl_one_year_after_onset(params, sol, onset, death):
    """(log NfL one year after onset, progression rate to then, which draws) of the draws
    alive then (those that never die within 20 years included)."""
    alive = np.asarray(sol.success) & np.isfinite(onset) & (death > onset + YEAR)
    # Every draw is solved (the others to day 1), so the program's shape is the same
    # however many are alive: a calibration that calls this at each trial compiles once.
    start = np.where(alive, onset, 0.0)
    at = alsjax.simulate_batch(params, jnp.asarray(np.stack([start, start + np.where(
        alive, YEAR, 1.0)], axis=1)))
    log_nfl = np.log(np.asarray(at.observables["nfl"])[alive, 1])
    rate = (48.0 - np.asarray(at.observables["alsfrs_r"])[alive, 1]) / 12.0
    return log_nfl, rate, alive


def survival_months(sol, onset, death):
    """Months from onset to death of the draws that die within 20 years, and which."""
    ok = np.asarray(sol.success) & np.isfinite(onset) & np.isfinite(death)
    return (death[ok] - onset[ok]) / YEAR * 12, ok


def variance_shares(y: np.ndarray, x: np.ndarray, names) -> tuple[float, dict[str, float]]:
    """A linear regression of `y` on the standardised stored values `x` (one column per
    parameter that varies): its R^2 and each parameter's share of var(y), beta^2 / var(y)
    (the parameters are drawn independently, so the shares add up to R^2)."""
    z = (x - x.mean(0)) / x.std(0)
    a = np.column_stack([np.ones(len(y)), z])
    beta, *_ = np.linalg.lstsq(a, y, rcond=None)
    r2 = 1.0 - np.var(y - a @ beta) / np.var(y)
    return float(r2), dict(zip(names, beta[1:] ** 2 / np.var(y), strict=True))


def decompose(draws) -> None:
    """Which parameters spread log NfL (one year after onset) and log survival from onset
    between `draws` (`solved_draws`): the ten largest shares of each."""
    params, sol, onset, death = draws
    log_nfl, _, alive = nfl_one_year_after_onset(*draws)
    months, ok = survival_months(sol, onset, death)
    x = np.stack([np.asarray(getattr(params, k)) for k in alsjax.PARAMETER_NAMES], axis=1)
    varies = x.std(0) > 1e-12
    names = [k for k, v in zip(alsjax.PARAMETER_NAMES, varies, strict=True) if v]
    for label, y, rows in (("log NfL one year after onset", log_nfl, alive),
                           ("log survival from onset", np.log(months), ok)):
        r2, shares = variance_shares(y, x[rows][:, varies], names)
        top = sorted(shares, key=shares.get, reverse=True)[:10]
        print(f"{label}: {y.size} draws, log SD {y.std():.2f}, linear R^2 {r2:.2f}; shares "
              "of the variance: " + ", ".join(f"{k} {shares[k]:.3f}" for k in top))


def what_if(base: alsjax.Prior, draws, n: int, seed: int) -> None:
    """The decomposition's prediction tried: `base` (already drawn and solved: `draws`),
    then the NfL parameters without spread, then also the two proteostasis rates at half
    their log spread (not a shipped prior)."""
    for label, solved in (
            ("population prior", draws),
            ("NfL parameters fixed", solved_draws(narrowed(base, FIXED_NFL), n, seed)),
            ("and proteostasis rates at half their log spread", solved_draws(
                narrowed(base, FIXED_NFL | dict.fromkeys(PROTEOSTASIS, 0.5)), n, seed))):
        log_nfl, rate, _ = nfl_one_year_after_onset(*solved)
        months, _ = survival_months(*solved[1:])
        print(f"{label}: NfL {describe(log_nfl, rate)}; survival from onset median "
              f"{np.median(months):.1f} months, log SD {np.log(months).std():.2f}, p10-p90 "
              f"{np.percentile(months, 10):.1f}-{np.percentile(months, 90):.1f}")


def describe(log_nfl: np.ndarray, rate: np.ndarray) -> str:
    p10, p50, p90 = np.exp(np.percentile(log_nfl, [10, 50, 90]))
    slow = rate <= PROGRESSION_SPLIT
    slower, faster = np.exp(np.median(log_nfl[slow])), np.exp(np.median(log_nfl[~slow]))
    return (f"{log_nfl.size} draws: log SD {log_nfl.std():.2f}, median {p50:.0f} pg/mL "
            f"(p10-p90 {p10:.0f}-{p90:.0f}); progression <= {PROGRESSION_SPLIT}: "
            f"{slow.sum()} draws, median {slower:.0f}, faster: {faster:.0f} "
            f"(ratio {faster / slower:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="draws per prior")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decompose", action="store_true",
                        help="instead: which parameters spread NfL and survival")
    parser.add_argument("--preset-version", default=alsjax.PRESET_VERSIONS[-1],
                        choices=alsjax.PRESET_VERSIONS[-2:], help="whose priors")
    args = parser.parse_args()
    version = args.preset_version
    if args.decompose:
        base = alsjax.prior("sporadic", "human", preset_version=version, population=True)
        draws = solved_draws(base, args.n, args.seed)
        decompose(draws)
        what_if(base, draws, args.n, args.seed)
        return
    table = pd.read_csv(SUGIMOTO)
    print("published (Sugimoto 2020): log SD "
          + ", ".join(f"{pooled_log_sd(table, g):.3f} by {g}"
                      for g in ("site_of_onset", "kings_stage"))
          + "; progression split: faster / slower medians {:.2f} (95 % about {:.2f}-{:.2f})"
          .format(*published_split()))
    priors = {f"population prior {version}": (version, True),
              f"preset-centred prior {version}": (version, False)}
    if version == alsjax.PRESET_VERSIONS[-1]:
        priors["population prior 2026.12.6"] = ("2026.12.6", True)
    for name, (v, population) in priors.items():
        prior = alsjax.prior("sporadic", "human", preset_version=v, population=population)
        for fixed in (False, True):
            label = name + (", NfL parameters at their medians" if fixed else "")
            solved = solved_draws(narrowed(prior, FIXED_NFL) if fixed else prior, args.n,
                                  args.seed)
            log_nfl, rate, _ = nfl_one_year_after_onset(*solved)
            print(f"{label}: {describe(log_nfl, rate)}")


if __name__ == "__main__":
    main()
