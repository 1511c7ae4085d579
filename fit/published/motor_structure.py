"""The pace-and-survival recipes refitted under other structures of the motor layer.

    python fit/published/motor_structure.py              # every variant, 8 starts each
    python fit/published/motor_structure.py --starts 16

Why: the model's reinnervation curve (Hill exponent 4) loses motor units as late as
function, where MUNIX loses them in half the time, and its limb hazard grows 4.4-fold in
the two years after onset; a reduced motor layer (`motor_layer` block of
docs/make_validation.py) found that a gentler curve and a steadier hazard would meet
both. This asks the full model: `human_pace_survival` (two placebo arms, survival from
onset) and `human_pace_survival_munix` (the same with Ebersbach 2023's two medians) are
refitted with the reinnervation exponent (`_RESERVE_HILL`) at 4, 2 or 1, the acting
aggregate burden's ceiling (`_AGGREGATE_CEILING`) at 10 (the model's) or lower, and with
or without aggregates leaving with the limb neurons that die (d aggregates/dt less the
limb death hazard times the aggregates: the burden is carried by neurons, and a dead
neuron's goes with it). These are module constants or a wrapper of `alsjax._model`'s
vector field that no preset version selects, so each variant runs in a process of its
own with them patched (compiled programs are not keyed by them).
Bounds are widened for every variant alike (`apoptotic_death_rate` to 0.7,
`motor_reserve` 0.1-5), and profiles are skipped. Prints one row per recipe and variant:
-log posterior, the starts that reached it, the estimates, and what the fitted course
gives (docs/make_validation.py's `motor_course`), with the limb hazard at onset and
its growth over the next two years. docs/validation.md, item 9, quotes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

VARIANTS = ((4, 10.0, False), (2, 10.0, False), (1, 10.0, False), (1, 0.1, False),
            (1, 0.05, False), (4, 10.0, True), (1, 10.0, True))  # (Hill, ceiling, leave)
RECIPES = ("human_pace_survival", "human_pace_survival_munix")
BOUNDS = {"apoptotic_death_rate": (0.0007, 0.7), "motor_reserve": (0.1, 5.0)}
VERSION = "2026.12.6"  # the model before revision 9 (its two switches 0), as recorded


def _aggregates_leave(cascade):
    """`cascade` with the aggregates also lost at the limb death hazard."""
    from alsjax import _model

    def field(t, y, args):
        r, therapy = args
        hazard = _model.death_hazard(y, r, _model.limb_drugs(therapy.active(t), r))
        return cascade(t, y, args).at[1].add(-r["time_scale"] * hazard * y[1])

    return field


def fit_variant(recipe_name: str, hill: int, ceiling: float, leave: bool,
                starts: int) -> dict:
    """One recipe under one structure (call in a fresh process: it patches the model)."""
    from alsjax import _model, _simulate

    _model._RESERVE_HILL, _model._AGGREGATE_CEILING = hill, ceiling
    if leave:  # every solver reaches the cascade through _simulate's name for it
        _simulate.cascade = _aggregates_leave(_model.cascade)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))
    import make_validation as mv  # sets float64

    import alsjax

    recipe = alsjax.load_recipe(mv.FIT / f"{recipe_name}.toml")
    # The version both recipes ran under when this was written: since revision 9 the
    # MUNIX recipe names 2026.12.8, whose own switches would stack on these patches.
    recipe = dataclasses.replace(recipe, starts=starts, profile=(), preset_version=VERSION,
                                 bounds={**recipe.bounds, **BOUNDS})
    res = alsjax.run_recipe(recipe)
    est = {n: float(v) for n, v in res.estimates.items()}
    c = mv.course_summary(mv.params({"estimates": est,
                                     "preset_version": recipe.preset_version}))
    hazard = c["hazard_per_year"]  # at onset, 12 and 24 months on
    at_best = sum(1 for o in res.start_objectives
                  if math.isfinite(float(o)) and float(o) - float(res.objective) < 0.05)
    return dict(recipe=recipe_name, hill=hill, ceiling=ceiling, leave=leave,
                objective=float(res.objective), starts_at_best=at_best, starts=starts,
                estimates=est, m50=c["m50"], d50=c["d50"], m50_over_d50=c["m50_over_d50"],
                relative_ratio=c["relative_ratio"], lmn_lost_at_onset=c["lmn_lost_at_onset"],
                first_year_slope=c["first_year_alsfrs_slope"],
                second_year_slope=c["second_year_slope"],
                survival_months=c["survival_months"], hazard_at_onset=hazard[0],
                hazard_growth_2_years=hazard[2] / hazard[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=8)
    ap.add_argument("--one", nargs=4, metavar=("RECIPE", "HILL", "CEILING", "LEAVE"),
                    help="fit one variant in this process and print it as JSON "
                    "(LEAVE: 1 for aggregates leaving with dying neurons, else 0)")
    a = ap.parse_args()
    if a.starts < 1:
        ap.error(f"--starts: at least 1, got {a.starts}")
    if a.one:
        name, hill, ceiling, leave = a.one
        if (name not in RECIPES or hill not in ("1", "2", "4") or leave not in ("0", "1")
                or not ceiling.replace(".", "", 1).isdigit() or float(ceiling) <= 0):
            ap.error(f"--one: RECIPE one of {', '.join(RECIPES)}, HILL 1, 2 or 4, CEILING > 0, "
                     f"LEAVE 0 or 1; got {' '.join(a.one)}")
        print(json.dumps(fit_variant(name, int(hill), float(ceiling), leave == "1", a.starts)))
        return
    print("recipe | Hill ceiling leave | -log L (starts at it) | apoptotic reserve resp | "
          "shifts MCI CENTAUR (months) | M50 D50 ratio rel | lost at onset | "
          "slope y1 y2 | survival | hazard at onset, x in 2 years")
    for name in RECIPES:
        for hill, ceiling, leave in VARIANTS:
            done = subprocess.run([sys.executable, __file__, "--starts", str(a.starts),
                                   "--one", name, str(hill), str(ceiling), str(int(leave))],
                                  capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            e = r["estimates"]
            shifts = [e.get(f"shift:{arm}", math.nan) / (365.25 / 12)
                      for arm in ("mci186_19_placebo", "centaur_placebo")]
            print(f"{name} | {hill} {ceiling:g} {'yes' if leave else 'no'} | "
                  f"{r['objective']:.3f} "
                  f"({r['starts_at_best']}/{r['starts']}) | {e['apoptotic_death_rate']:.4f} "
                  f"{e['motor_reserve']:.3f} {e['respiratory_vulnerability']:.3f} | "
                  f"{shifts[0]:.1f} {shifts[1]:.1f} | {r['m50']:.1f} {r['d50']:.1f} "
                  f"{r['m50_over_d50']:.2f} {r['relative_ratio']:.2f} | "
                  f"{r['lmn_lost_at_onset']:.2f} | {r['first_year_slope']:.2f} "
                  f"{r['second_year_slope']:.2f} | {r['survival_months']:.1f} | "
                  f"{r['hazard_at_onset']:.3f} x{r['hazard_growth_2_years']:.1f}", flush=True)


if __name__ == "__main__":
    main()
