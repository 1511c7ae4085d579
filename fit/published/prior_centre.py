"""Calibrate the population prior against published cohorts (survival, serum NfL).

The spreads of the guessed rates and of the proteostasis rates, and the factor on the death
rates' medians, that make the prior's draws die as a cohort does and spread serum NfL as
patients do.

    python fit/published/prior_centre.py [--n 10000] [--seed 0]
    python fit/published/prior_centre.py --genotype C9orf72   # one preset's factor only

Why: the presets were fitted as one patient (one trajectory per trial arm, the arm's spread
in the likelihood's event spread). Spreading every rate about that patient shortens the
median draw's life, because survival falls faster than linearly as the cascade's drives
rise: under preset version 2026.12.6 the sporadic draws died at a median 26.6 months from
onset against the preset's 35.2 (docs/validation.md, *Heterogeneity*).

1. Sporadic, human: draw N parameter sets once per trial (the same normal draws at every
   trial, so the fractions move smoothly), solve 20 years, and fit three numbers of
   `alsjax._priors.PopulationCalibration` (the GSD of the guessed rates, the GSD of the two
   proteostasis rates, and the factor on `DEATH_RATES`) to the survival curve from onset of
   Testa 2004 (data/published/testa2004_survival_from_onset.csv: died by 1, 3 and 5 years
   of 793) and to the log SD of serum NfL between 30 patients of Sugimoto 2020 (the draws'
   NfL one year after onset, `nfl_spread.py`), by Nelder-Mead on the sum of the
   multinomial deviance of the four intervals and the deviance of a normal sample's
   variance. Why the proteostasis rates are a group of their own: they carry 39 % of log
   NfL's variance between draws and a quarter of survival's (`nfl_spread.py --decompose`),
   so one common spread cannot fit both. The NfL parameters' own spreads are narrowed to
   `NFL_SPREADS` (a guess: the cascade already spreads NfL between patients).
2. Every other genotype (with those spreads) and the SOD1-G93A mouse (its recorded spreads):
   the factor that gives the draws their preset's median survival from onset, by the
   secant method on log median against log factor, to 0.2 %; a case already within 2 % at
   factor 1 keeps 1 (the mouse: its median hardly moves with the hazard, so chasing a
   1 % gap would move the factor by a third).

Prints the calibration to paste into `alsjax._priors.POPULATION`, with the fitted
fractions and NfL spread, the NfL progression split (not fitted: a check), a profile over
the proteostasis spread, a bootstrap SD of each median and the tries.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python fit/published/prior_centre.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import optimize  # noqa: E402

import alsjax  # noqa: E402
from alsjax import _priors  # noqa: E402
from alsjax._presets import LATEST_PRESET  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nfl_spread  # noqa: E402

DAYS_PER_MONTH = 365.25 / 12
HORIZON = {"human": 20 * 365.25, "mouse": 365.0}
OTHER_CASES = [(g, "human") for g in alsjax.GENOTYPES if g != "sporadic"] + [("SOD1", "mouse")]
TESTA = Path(__file__).resolve().parents[2] / "data/published/testa2004_survival_from_onset.csv"
TOLERANCE = 0.002  # relative, on a median survival
KEEP = 0.02  # a case whose draws' median is already this close at factor 1 keeps factor 1
MAX_ITERATIONS = 8
PROTEOSTASIS = nfl_spread.PROTEOSTASIS  # misfolding_rate, clearance_rate
# The NfL parameters' own spreads, narrowed from RANGES (GSD 1.8, 1.4, 2.0): a guess. The
# cascade spreads NfL between patients through the injury term, which nfl_release's 1.8 (set
# to the between-patient spread itself) counted twice; nfl_baseline keeps Barro 2020's range.
NFL_SPREADS = _priors.NFL_SPREADS
PROFILE_PROTEOSTASIS = (1.1, 1.2, 1.4, 1.5)


def calibration(guess_spread: float, proteostasis_spread: float, case: tuple[str, str],
                factor: float) -> _priors.PopulationCalibration:
    """A trial calibration for one case, with the groups calibrated on their own."""
    spreads = dict.fromkeys(PROTEOSTASIS, proteostasis_spread) | NFL_SPREADS
    return _priors.PopulationCalibration(guess_spread, {case: factor}, spreads)


def population_draws(genotype: str, species: str, trial: _priors.PopulationCalibration,
                     n: int, seed: int):
    """N draws of the population prior under a trial calibration (set in this process's
    copy of `POPULATION`, so the draws go through `prior` itself), solved over the
    species' horizon: (params, solution, onset days, death days; inf: none)."""
    _priors.POPULATION[LATEST_PRESET] = trial
    return nfl_spread.solved_draws(alsjax.prior(genotype, species, population=True), n, seed,
                                   HORIZON[species])


def survival_days(draws) -> np.ndarray:
    """Survival from onset (days) of each draw with onset; inf where death comes after the
    horizon (censored: fractions and medians are still defined below the censored share)."""
    _, sol, onset, death = draws
    ill = np.asarray(sol.success) & np.isfinite(onset)
    days = np.full(onset.shape, np.inf)
    both = ill & np.isfinite(death)
    days[both] = death[both] - onset[both]
    return days[ill]


def variance_deviance(model_sd: float, published_sd: float, n: int) -> float:
    """-2 log likelihood ratio of a normal sample's variance: (n - 1) s^2 / sigma^2 is
    chi-squared on n - 1 df, so the deviance of sigma against s is
    (n - 1) (r - 1 - ln r) with r = s^2 / sigma^2 (0 at sigma = s)."""
    r = (published_sd / model_sd) ** 2
    return (n - 1) * (r - 1.0 - math.log(r))


def fit_sporadic(n: int, seed: int) -> tuple[float, float, float, str]:
    """(guess spread, proteostasis spread, factor) by Nelder-Mead on the deviance against
    Testa 2004's survival curve plus that of serum NfL's log SD against Sugimoto 2020's, and
    a profile of the deviance over the proteostasis spread (the other two refitted)."""
    table = pd.read_csv(TESTA)
    days, died = table["time"].to_numpy(float), table["value"].to_numpy(float)
    cohort = float(table["n"].iat[0])
    observed = cohort * np.diff(np.r_[0.0, died, 1.0])  # deaths per interval, and survivors
    sugimoto = pd.read_csv(nfl_spread.SUGIMOTO)
    nfl_sd = nfl_spread.pooled_log_sd(sugimoto, "site_of_onset")
    nfl_n = int(sugimoto.loc[sugimoto["grouping"] == "site_of_onset", "n"].sum())
    case = ("sporadic", "human")

    def outcomes(guess: float, proteostasis: float, factor: float):
        draws = population_draws(*case, calibration(guess, proteostasis, case, factor), n,
                                 seed)
        survival = survival_days(draws)
        log_nfl, rate, _ = nfl_spread.nfl_one_year_after_onset(*draws)
        return survival, log_nfl, rate

    def deviances(guess: float, proteostasis: float, factor: float) -> tuple[float, float]:
        survival, log_nfl, _ = outcomes(guess, proteostasis, factor)
        fractions = np.array([np.mean(survival <= d) for d in days])
        expected = cohort * np.clip(np.diff(np.r_[0.0, fractions, 1.0]), 1e-9, None)
        curve = 2 * np.sum(observed * np.log(np.clip(observed, 1e-9, None) / expected))
        return float(curve), variance_deviance(float(log_nfl.std()), nfl_sd, nfl_n)

    def total(x: np.ndarray) -> float:
        return sum(deviances(1 + math.exp(x[0]), math.exp(math.exp(x[1])), math.exp(x[2])))

    # From the 2026.12.6 calibration and nfl_spread.py --decompose (docs/validation.md).
    x0 = np.array([math.log(1.73 - 1), math.log(0.5 * math.log(1.73)), math.log(0.35)])
    best = optimize.minimize(total, x0, method="Nelder-Mead",
                             options={"xatol": 0.01, "fatol": 0.02, "maxfev": 200})
    guess, proteostasis, factor = (1 + math.exp(best.x[0]), math.exp(math.exp(best.x[1])),
                                   math.exp(best.x[2]))
    profile = []
    for p in PROFILE_PROTEOSTASIS:
        inner = optimize.minimize(lambda y, p=p: total(np.r_[y[0], math.log(math.log(p)),
                                                            y[1]]),
                                  best.x[[0, 2]], method="Nelder-Mead",
                                  options={"xatol": 0.02, "fatol": 0.05, "maxfev": 30})
        profile.append(f"{p:.2f}: {inner.fun:.2f} (GSD {1 + math.exp(inner.x[0]):.3f}, "
                       f"factor {math.exp(inner.x[1]):.3f})")
    curve, spread = deviances(guess, proteostasis, factor)
    survival, log_nfl, rate = outcomes(guess, proteostasis, factor)
    fitted = [np.mean(survival <= d) for d in days]
    slow = rate <= nfl_spread.PROGRESSION_SPLIT
    split = math.exp(np.median(log_nfl[~slow]) - np.median(log_nfl[slow]))
    note = (f"died by {', '.join(f'{d:.0f}' for d in days)} days: "
            f"{', '.join(f'{f:.3f}' for f in fitted)} "
            f"(Testa {', '.join(f'{f:.2f}' for f in died)}), deviance {curve:.2f}; NfL one "
            f"year after onset: log SD {log_nfl.std():.3f} of {log_nfl.size} draws "
            f"(Sugimoto {nfl_sd:.3f}, n {nfl_n}), deviance {spread:.2f}; total {best.fun:.2f} "
            f"on 1 df ({best.nfev} trials, {best.message}); "
            f"{describe(survival / DAYS_PER_MONTH)}; NfL split at "
            f"{nfl_spread.PROGRESSION_SPLIT} points a month, faster / slower medians: "
            f"{split:.2f} (held out; published 2.1); profile over the proteostasis GSD "
            f"(deviance, the other two refitted): {'; '.join(profile)}")
    return guess, proteostasis, factor, note


def describe(months: np.ndarray) -> str:
    p10, p50, p90 = np.percentile(months, [10, 50, 90], method="nearest")
    rng = np.random.default_rng(0)
    boot = [np.median(rng.choice(months, months.size)) for _ in range(200)]
    return (f"median {p50:.2f} months (bootstrap SD {np.std(boot):.2f}), "
            f"p10-p90 {p10:.2f}-{p90:.2f}")


def match_median(genotype: str, species: str, spread: float, proteostasis: float, n: int,
                 seed: int) -> tuple[float, str]:
    """The factor giving the draws their preset's median survival (secant on logs)."""
    preset = jax.tree.map(lambda a: a[None], alsjax.default_params(genotype, species))
    sol = alsjax.simulate_batch(preset, jnp.asarray([0.0, HORIZON[species]]))
    target = float(survival_days((preset, sol, np.asarray(sol.events["onset"]),
                                  np.asarray(sol.events["death"])))[0])
    case = (genotype, species)
    log_c, log_s, tries = [0.0], [], []
    for _ in range(MAX_ITERATIONS):
        trial = calibration(spread, proteostasis, case, math.exp(log_c[-1]))
        days = survival_days(population_draws(genotype, species, trial, n, seed))
        log_s.append(math.log(np.median(days)))
        tries.append(f"{math.exp(log_c[-1]):.4f} -> {math.exp(log_s[-1]) / DAYS_PER_MONTH:.2f}")
        if abs(math.exp(log_s[-1]) / target - 1) < (KEEP if len(log_s) == 1 else TOLERANCE):
            break
        # a first step of slope -1/2 (the median lengthens about as the hazard's square root)
        slope = -0.5 if len(log_s) < 2 else (log_s[-1] - log_s[-2]) / (log_c[-1] - log_c[-2])
        log_c.append(log_c[-1] + (math.log(target) - log_s[-1]) / slope)
    else:
        raise SystemExit(f"{genotype} {species}: no factor within {TOLERANCE:.1%} after "
                         f"{MAX_ITERATIONS} tries: {tries}")
    note = (f"preset {target / DAYS_PER_MONTH:.2f} months; draws' "
            f"{describe(days / DAYS_PER_MONTH)}; tries {'; '.join(tries)}")
    return math.exp(log_c[-1]), note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--genotype", choices=[g for g, s in OTHER_CASES if s == "human"],
                        help="only this human genotype's factor, with the spreads the latest "
                             "calibration records (for a version that changes one preset)")
    args = parser.parse_args()
    print(f"# preset version {LATEST_PRESET}, {args.n} draws, seed {args.seed}")
    t0 = time.perf_counter()
    if args.genotype:
        recorded = _priors.POPULATION[LATEST_PRESET]
        proteostasis = recorded.spreads[PROTEOSTASIS[0]]
        factor, note = match_median(args.genotype, "human", recorded.guess_spread,
                                    proteostasis, args.n, args.seed)
        print(f'    ("{args.genotype}", "human"): {factor:.4f},  # {note}; '
              f"{time.perf_counter() - t0:.0f} s")
        return
    spread, proteostasis, factor, note = fit_sporadic(args.n, args.seed)
    spreads = ", ".join(f'"{k}": {v:.3f}' for k, v in calibration(
        spread, proteostasis, ("sporadic", "human"), factor).spreads.items())
    print(f"    guess_spread={spread:.3f},\n    spreads={{{spreads}}},\n"
          f'    ("sporadic", "human"): {factor:.4f},  # {note}; '
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    for genotype, species in OTHER_CASES:
        t0 = time.perf_counter()
        factor, note = match_median(genotype, species, spread, proteostasis, args.n,
                                    args.seed)
        print(f'    ("{genotype}", "{species}"): {factor:.4f},  # {note}; '
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
