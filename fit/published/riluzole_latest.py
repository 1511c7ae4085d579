"""Riluzole's Bensimon fit under the newest preset, beside the recorded one (2026.12.4).

    python fit/published/riluzole_latest.py

Why: the recorded riluzole fit (`riluzole_bensimon.toml`) and the presets'
`riluzole_efficacy` were made under preset version 2026.12.4 (model revision 6). Revision
8 (version 2026.12.6) added an oxidative death route, which riluzole's block of glutamate
does not reach. This reruns the recipe under the newest preset, with the stage at entry
free to go below ALSFRS-R 24 (the recipe's lower bound, where the fit stops under this
version), and prints: the estimates and the efficacy's profile; the fitted 12-month
survival and the held-out 18-month survival of Lacomblez 1996 (as docs/make_validation.py
predicts them for the recorded fit); and the most riluzole can give, as survival from
onset with riluzole from onset by efficacy, under each version. docs/validation.md,
*Bensimon 1994*, quotes it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))

import make_validation as mv  # noqa: E402 (sets float64 and puts the repository on the path)

import alsjax  # noqa: E402

EFFICACIES = (0.0, 0.15, 0.3, 0.6, 1.0)
STAGE_BOUNDS = (0.05, 0.98)  # onset_threshold: ALSFRS-R 2.4-47 at randomisation


def cap_row(version: str, **extra) -> str:
    """Months from onset to death with riluzole from onset, by efficacy."""
    base = alsjax.default_params("sporadic", preset_version=version).replace(**extra)
    start = mv.onset(base)
    months = [(mv.death(base.replace(riluzole_efficacy=e), riluzole=start) - start) / mv.MONTH
              for e in EFFICACIES]
    return " ".join(f"{m:5.1f}" for m in months)


def main() -> None:
    recipe = alsjax.load_recipe(mv.FIT / "riluzole_bensimon.toml")
    recipe = dataclasses.replace(recipe, preset_version=alsjax.PRESET_VERSIONS[-1],
                                 bounds={**recipe.bounds, "onset_threshold": STAGE_BOUNDS})
    res = alsjax.run_recipe(recipe)
    est = {n: float(v) for n, v in res.estimates.items()}
    fit = {"estimates": est, "preset_version": recipe.preset_version}
    print(f"preset {recipe.preset_version}: -log posterior {float(res.objective):.4f}, "
          f"converged {bool(res.converged)}")
    print(f"  onset_threshold {est['onset_threshold']:.4f} (ALSFRS-R "
          f"{48 * est['onset_threshold']:.1f} at randomisation; Laplace "
          f"{res.ci_low['onset_threshold']:.3f}-{res.ci_high['onset_threshold']:.3f}); "
          f"riluzole_efficacy {est['riluzole_efficacy']:.4f}")
    for prof in res.profiles:
        ends = [f"{x:.3g}" if math.isfinite(x) else "none within the bound"
                for x in (float(prof.ci_low), float(prof.ci_high))]
        print(f"  profile of {prof.parameter}: 95 % from {ends[0]} to {ends[1]}; "
              "2 delta(-log L): " + ", ".join(
                  f"{v:.4g}: {2 * (o - prof.best):.3g}"
                  for v, o in zip(prof.values, prof.objective, strict=True)))
    p = mv.params(fit)
    origin = mv.onset(p)
    untreated, treated = mv.death(p), mv.death(p, riluzole=origin)
    print(f"  origin {(origin - mv.onset(mv.preset_of(fit))) / mv.MONTH:.1f} months after "
          f"the model's onset; riluzole gains {(treated - untreated) / mv.MONTH:.1f} months")
    for day, label, published in (
            (365.0, "Bensimon 1994, 12 months (fitted)",
             mv.counts("bensimon1994_riluzole_survival.csv", "arm", 365.0)),
            (548.0, "Lacomblez 1996, 18 months (held out)",
             mv.counts("lacomblez1996_riluzole_survival.csv", "arm", 548.0))):
        placebo = float(mv.survival(untreated, origin, day))
        drug = float(mv.survival(treated, origin, day))
        arms = {a: f"{k}/{n} = {k / n:.3f} ({lo:.3f}-{hi:.3f})"
                for a, (k, n) in published.items() for lo, hi in [mv.binom_ci(k, n)]}
        print(f"  {label}: alive placebo {placebo:.3f}, riluzole {drug:.3f}, "
              f"difference {drug - placebo:.3f}; published {arms}")
    print("months from onset to death, riluzole from onset, by efficacy "
          + " ".join(f"{e:5.2f}" for e in EFFICACIES))
    for version in ("2026.12.4", alsjax.PRESET_VERSIONS[-1]):
        print(f"  {version:10s} {cap_row(version)}")
    print(f"  {alsjax.PRESET_VERSIONS[-1]} without the oxidative route "
          f"{cap_row(alsjax.PRESET_VERSIONS[-1], oxidative_death_rate=0.0)}")


if __name__ == "__main__":
    main()
