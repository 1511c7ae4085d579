"""ALSFRS-R and FVC slopes of the prior's draws against PRO-ACT's trial patients.

    python fit/published/cohort_slopes.py [--n 10000] [--seed 0]

Why: held-out checks 10 and 10b of docs/validation.md. The population prior is fitted to
survival (and, since 2026.12.7, to serum NfL's spread), not to any slope, so its draws'
decline is a prediction. PRO-ACT's trial patients lose 1.02 ALSFRS-R points and 2.24 %
predicted FVC a month on average (Atassi 2014); they enrol alive and well enough, often
a year or more after onset, so the draws are measured over the year from 12 months after
onset (to death if sooner), those alive at 12 months only.

For the sporadic population priors of the two newest preset versions and the newest
preset-centred one, prints: the mean, SD and median of each slope; how many draws were
alive at 12 months and their median ALSFRS-R then; the ratio of the two mean slopes (FVC
points per ALSFRS-R point; PRO-ACT's 2.2); and the share of the draws that die whose
ALSFRS-R at death is above 10 points.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python fit/published/cohort_slopes.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import alsjax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nfl_spread import YEAR, solved_draws  # noqa: E402

MONTH = YEAR / 12
PROACT = {"alsfrs_r": 1.02, "fvc": 2.24}  # mean loss a month (Atassi 2014)


def slopes(prior: alsjax.Prior, n: int, seed: int) -> str:
    """One line: the draws' slopes over the year from 12 months after onset."""
    params, sol, onset, death = solved_draws(prior, n, seed)
    ok = np.asarray(sol.success) & np.isfinite(onset)
    start = onset + YEAR
    alive = ok & (death > start)
    # Every draw is solved, at three nondecreasing times (the start and end of the year,
    # and death), so the program's shape does not depend on who is alive.
    t0 = np.where(alive, start, 0.0)
    t1 = np.where(alive, np.minimum(start + YEAR, death), 1.0)
    dies = ok & np.isfinite(death)
    td = np.where(dies, np.maximum(death, t1), t1)
    at = alsjax.simulate_batch(params, jnp.asarray(np.stack([t0, t1, td], axis=1)))
    months = (t1 - t0)[alive] / MONTH
    out, means = [], {}
    for name, unit in (("alsfrs_r", "points"), ("fvc", "% predicted")):
        v = np.asarray(at.observables[name])
        s = (v[alive, 0] - v[alive, 1]) / months
        means[name] = s.mean()
        out.append(f"{name} {s.mean():.2f} {unit}/month (SD {s.std():.2f}, median "
                   f"{np.median(s):.2f}; {s.mean() / PROACT[name]:.2f} x PRO-ACT's "
                   f"{PROACT[name]})")
    score = np.asarray(at.observables["alsfrs_r"])
    return (f"{alive.sum()} of {n} draws alive at 12 months (median ALSFRS-R "
            f"{np.median(score[alive, 0]):.1f}): " + "; ".join(out)
            + f"; ratio of the means {means['fvc'] / means['alsfrs_r']:.2f} (PRO-ACT 2.2); "
            f"ALSFRS-R above 10 at death: {np.mean(score[dies, 2] > 10):.1%} of "
            f"{dies.sum()} deaths")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    newest, before = alsjax.PRESET_VERSIONS[-1], alsjax.PRESET_VERSIONS[-2]
    for label, version, population in ((f"population prior {newest}", newest, True),
                                       (f"population prior {before}", before, True),
                                       (f"preset-centred prior {newest}", newest, False)):
        prior = alsjax.prior("sporadic", "human", preset_version=version,
                             population=population)
        print(f"{label}: {slopes(prior, args.n, args.seed)}", flush=True)


if __name__ == "__main__":
    main()
