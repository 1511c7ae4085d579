"""A lead for the hazard that still accelerates: cell-level states that leave with the
neurons that die, as the aggregates do since revision 9.

    python fit/published/selective_loss.py                 # the three variants below
    python fit/published/selective_loss.py --one h 1.0     # one variant, this process

Why: under revision 9 (preset 2026.12.8) the aggregates level off after onset, but the
limb hazard still grows 4.3-fold over two years, through the oxidative and apoptotic
routes that failing mitochondria feed (docs/validation.md, item 9). Mitochondrial
function, ROS and apoptotic signalling are, like the aggregates, averages over the
surviving neurons; if the neurons that die are the sickest, the survivors' averages
improve as they go. Each variant adds, at k times the limb death hazard, a pull of those
states back towards health (mitochondria h: + k hazard (1 - h); apoptotic signalling x:
- k hazard x; ROS: - k hazard (ROS - 1)) by wrapping the cascade that every solver
reaches through `alsjax._simulate` (so each runs in a process of its own), refits the
joint recipe with the MUNIX rows (`human_pace_survival_munix.toml`, 8 starts, no
profile) and prints its -log L, estimates and what the fitted course gives (the limb
hazard at onset and 12 and 24 months on, ALSFRS-R points a month in years 1 and 2).
Exploration: no preset or recipe changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = (("h", 1.0), ("h,x,ros", 1.0), ("h,x,ros", 3.0))  # (states, k)


def _with_selective_loss(cascade, states: set[str], k: float):
    """`cascade` with the named states pulled towards health at k times the hazard."""
    from alsjax import _model

    names = _model.STATE_NAMES
    h, x, ros = (names.index(s) for s in ("mitochondria", "apoptosis", "ros"))

    def field(t, y, args):
        r, therapy = args
        hazard = _model.death_hazard(y, r, _model.limb_drugs(therapy.active(t), r))
        pull = r["time_scale"] * k * hazard
        dy = cascade(t, y, args)
        if "h" in states:
            dy = dy.at[h].add(pull * (1 - y[h]))
        if "x" in states:
            dy = dy.at[x].add(-pull * y[x])
        if "ros" in states:
            dy = dy.at[ros].add(-pull * (y[ros] - 1))
        return dy

    return field


def fit_variant(states: str, k: float) -> dict:
    """The joint recipe with the MUNIX rows under one variant (call in a fresh process)."""
    from alsjax import _model, _simulate

    _simulate.cascade = _with_selective_loss(_model.cascade, set(states.split(",")), k)
    sys.path.insert(0, str(ROOT / "docs"))
    import make_validation as mv  # sets float64

    import alsjax

    recipe = alsjax.load_recipe(mv.FIT / "human_pace_survival_munix.toml")
    recipe = dataclasses.replace(recipe, starts=8, profile=())
    res = alsjax.run_recipe(recipe)
    est = {n: float(v) for n, v in res.estimates.items() if ":" not in n}
    summary = mv.course_summary(mv.params({"estimates": est,
                                           "preset_version": recipe.preset_version}))
    return dict(states=states, k=k, objective=float(res.objective), estimates=est, **summary)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", nargs=2, metavar=("STATES", "K"),
                    help="one variant in this process, e.g. h,x,ros 1.0")
    a = ap.parse_args()
    if a.one:
        try:
            k = float(a.one[1])
        except ValueError:
            ap.error(f"--one: K must be a number, not {a.one[1]!r}")
        if not set(a.one[0].split(",")) <= {"h", "x", "ros"}:
            ap.error(f"--one: STATES must be a comma list of h, x, ros, not {a.one[0]!r}")
        print(json.dumps(fit_variant(a.one[0], k)))
        return
    print("| states, k | -log L | apoptotic, reserve, resp. vuln. | limb hazard /year at "
          "0, 12, 24 months | ALSFRS-R points/month, years 1 and 2 | M50/D50, rel. ratio |")
    print("|---|---|---|---|---|---|")
    for states, k in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--one", states, str(k)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        e = r["estimates"]
        print(f"| {states}, {k:g} | {r['objective']:.3f} | {e['apoptotic_death_rate']:.4f}, "
              f"{e['motor_reserve']:.3f}, {e['respiratory_vulnerability']:.3f} | "
              + ", ".join(f"{v:.3f}" for v in r["hazard_per_year"])
              + f" | {r['first_year_alsfrs_slope']:.2f}, {r['second_year_slope']:.2f} | "
              f"{r['m50_over_d50']:.2f}, {r['relative_ratio']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
