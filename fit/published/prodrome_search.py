"""Can retuning rates give C9orf72 and FUS carriers their long presymptomatic NfL rise?

    python fit/published/prodrome_search.py                  # 1,500 draws per search
    python fit/published/prodrome_search.py --draws 300      # a quicker look
    python fit/published/prodrome_search.py --delayed        # with a prodromal phase
    python fit/published/prodrome_search.py --delayed --dpr-injury 0.3  # and repeats' injury
    python fit/published/prodrome_search.py --level          # C9orf72's lead and NfL level

Why: serum NfL rises about 42 months before symptom onset in C9orf72 carriers and about
24 in FUS carriers (Benatar et al. 2019), but each genotype preset's NfL leaves the
healthy level within weeks of its cascade's start, which is only 6-12 months before
onset (docs/validation.md, check 12). Before changing the model's structure, this asks
whether the rates alone can do it: for each genotype it draws every named rate
log-uniformly within one decade of its preset (10^U(-1, 1) times it; autophagy capacity
at most 1, the healthy value), solves each draw, and reports the longest NfL lead (months
before onset that NfL passed 2x healthy, the guess of check 12) among draws whose survival
from onset stays within 18-40 months (a guess at a human course: the sporadic preset
lives 35). Two searches per genotype: the genotype's own rates only, which keep the
sporadic preset's calibration; and those together with the shared disease rates, which
would break it.

`--delayed` asks the next question: what if the carriers' own drive runs for a
prodrome of D days (drawn 0-72 months) before the shared, ageing-related misfolding
starts (`misfolding_delay`, model revision 10)? The genotype's own rates are drawn as
before. `--dpr-injury W` adds revision 10's other half: C9orf72's dipeptide repeats
injure axons at W times a misfolded protein's (`dpr_injury`). Every search starts from
the presets of version 2026.12.9, the last before revision 10 (whose C9orf72 preset this
search led to: docs/model.md, revision 10). Exploration: no preset or recipe changes.

`--level` asks what revision 10 cost, and how to pay less (revision 11). Its C9orf72 preset
meets the lead, but its NfL a year after onset is 4.8 times the sporadic preset's, where
C9orf72 ALS sits level with typical ALS (about 0.95 times: docs/validation.md, check 14).
Two searches draw C9orf72's own rates, the repeats' injury and the prodrome D (each rate
10^U(-1, 1) times its preset's, D from 0 to 72 months): around the 2026.12.10 preset, with
the injury squared with the misfolded protein's (`dpr_injury`, revision 10); and around
the newest, with it direct and linear (`dpr_axon_injury`, revision 11). Each lists the
draws that keep the lead within `LEAD_WINDOW`, NfL's level within `LEVEL_WINDOW` of the
sporadic preset's and survival within `SURVIVAL_MONTHS`, and reach onset after the shared
misfolding has started (an onset from the repeats alone is not the disease the presets
describe), nearest the published pair first. Then, under revision 11, other leaks and
proteostasis capacities, each with the prodrome that gives the published lead: what
each leaves of the lead at 3x healthy and of the level.
"""

from __future__ import annotations

import argparse
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import alsjax  # noqa: E402
from alsjax._presets import preset_values  # noqa: E402

MONTH = 365.25 / 12
SURVIVAL_MONTHS = (18.0, 40.0)  # survival from onset a draw must keep (a guess)
NFL_LEVEL = 2.0  # x healthy: where a control range might end (check 12's guess)
OWN = {"C9orf72": ("c9_repeat", "dpr_clearance", "dpr_toxicity", "autophagy_capacity"),
       "FUS": ("rbp_misfolding", "rna_stress")}
SHARED = ("misfolding_rate", "aggregation_rate", "aggregate_seed", "clearance_rate",
          "apoptosis_activation", "apoptotic_death_rate", "mito_repair",
          "proteostasis_saturation")
PUBLISHED_LEAD = {"C9orf72": 42.0, "FUS": 24.0}  # months (Benatar 2019's abstract)
# --level: C9orf72's NfL a year after onset over the sporadic preset's (Saracino 2021's
# 71.76 pg/mL over Meyer 2024's 75.7, docs/validation.md check 14), and the windows a draw
# must keep (guesses: a quarter of the lead either way, and check 5's factor 1.5).
PUBLISHED_LEVEL = 0.95
LEAD_WINDOW = (32.0, 52.0)
LEVEL_WINDOW = (PUBLISHED_LEVEL / 1.5, PUBLISHED_LEVEL * 1.5)
LEVEL_OWN = ("c9_repeat", "dpr_clearance", "dpr_toxicity", "autophagy_capacity")
REVISION_10 = "2026.12.10"  # the last preset with the squared injury
TIMES = np.linspace(0.0, 30 * 365.25, 6001)  # days from the cascade's start
PRODROME_MONTHS = 72.0  # --delayed: D drawn uniformly from 0 to this
BEFORE = "2026.12.9"  # the presets searched from: the last version before revision 10


CHUNK = 250  # draws solved together (their saved courses: about 250 MB)


@jax.jit
@jax.vmap
def _courses(p: alsjax.Params):
    s = alsjax.simulate(p, TIMES)
    return s.events["onset"], s.events["death"], s.observables["nfl"]


class Course(NamedTuple):
    """What the searches read of one draw's solved course."""

    lead: float  # months before onset that NfL passed the threshold x healthy
    survival: float  # months from onset to death
    level: float  # NfL a year after onset, in times healthy
    onset: float  # day of onset


def _leads_and_survivals(draws: list[dict], threshold: float = NFL_LEVEL
                         ) -> list[Course | None]:
    """Each draw's (physical values) `Course`; None where it never reaches onset or death,
    or fails to solve. `CHUNK` draws are solved at a time, in one batched call."""
    out = []
    for i in range(0, len(draws), CHUNK):
        chunk = draws[i:i + CHUNK]
        params = jax.tree.map(lambda *a: jnp.stack(a),
                              *(alsjax.Params.from_physical(**v) for v in chunk))
        for values, onset, death, nfl in zip(chunk, *(np.asarray(x)
                                                      for x in _courses(params)), strict=True):
            onset, death = float(onset), float(death)
            if not (math.isfinite(onset) and math.isfinite(death)):
                out.append(None)
                continue
            ratio = nfl[TIMES < onset] / values["nfl_baseline"]
            below = np.flatnonzero(ratio < threshold)
            lead = 0.0 if ratio[-1] < threshold else (onset - TIMES[below[-1] + 1]) / MONTH
            level = np.interp(onset + 12 * MONTH, TIMES, nfl) / values["nfl_baseline"]
            out.append(Course(lead, (death - onset) / MONTH, float(level), onset))
    return out


def _draw(preset: dict, names: tuple[str, ...], rng, prodrome: bool) -> tuple[dict, float,
                                                                             np.ndarray]:
    """One draw around `preset`: each of `names` 10^U(-1, 1) times its value (autophagy
    capacity at most 1, the healthy value) and, with `prodrome`, D drawn 0-72 months
    (else 0). Returns the values, D in months and the factors."""
    factors = 10.0 ** rng.uniform(-1.0, 1.0, len(names))
    v = dict(preset, **{n: preset[n] * f for n, f in zip(names, factors, strict=True)})
    v["autophagy_capacity"] = min(v["autophagy_capacity"], 1.0)
    months = rng.uniform(0.0, PRODROME_MONTHS) if prodrome else 0.0
    v["misfolding_delay"] = months * MONTH
    return v, months, factors


def search(genotype: str, names: tuple[str, ...], draws: int, delayed: bool = False,
           dpr_injury: float = 0.0, seed: int = 0) -> dict:
    """The longest lead among `draws` draws that keep survival in `SURVIVAL_MONTHS`;
    `delayed`: each draw with a prodrome D (`misfolding_delay`) as well; `dpr_injury`:
    the repeats' axonal injury of every draw."""
    preset = dict(preset_values(genotype, "human", BEFORE), dpr_injury=dpr_injury)
    rng = np.random.default_rng(seed)
    drawn, values = [], []
    for _ in range(draws):
        v, prodrome, factors = _draw(preset, names, rng, delayed)
        drawn.append((prodrome, *np.log10(factors)))
        values.append(v)
    rows = np.array([(course.lead, course.survival, *d)
                     for course, d in zip(_leads_and_survivals(values), drawn, strict=True)
                     if course is not None])
    keep = rows[(rows[:, 1] >= SURVIVAL_MONTHS[0]) & (rows[:, 1] <= SURVIVAL_MONTHS[1])]
    best = keep[np.argmax(keep[:, 0])] if len(keep) else None
    return dict(solved=len(rows), in_window=len(keep),
                longest_lead=None if best is None else float(best[0]),
                its_survival=None if best is None else float(best[1]),
                its_prodrome=None if best is None else float(best[2]),
                its_log10_factors=None if best is None else
                {n: round(float(f), 2) for n, f in zip(names, best[3:], strict=True)})


def _level_draws(preset: dict, injury: str, draws: int, sporadic: float, seed: int = 0,
                 show: int = 3) -> None:
    """Print how many draws around `preset` (C9orf72's own rates, `injury` and D) keep
    every window, and the `show` nearest (42 months, 0.95 x sporadic) on the log scale."""
    rng = np.random.default_rng(seed)
    names = LEVEL_OWN + (injury,)
    values = [_draw(preset, names, rng, prodrome=True)[0] for _ in range(draws)]
    inside, found = 0, []
    for v, course in zip(values, _leads_and_survivals(values), strict=True):
        if course is None:
            continue
        lead, survival, level = course.lead, course.survival, course.level / sporadic
        if (LEAD_WINDOW[0] <= lead <= LEAD_WINDOW[1] and SURVIVAL_MONTHS[0] <= survival
                <= SURVIVAL_MONTHS[1] and LEVEL_WINDOW[0] <= level <= LEVEL_WINDOW[1]):
            inside += 1
            if course.onset > v["misfolding_delay"]:
                distance = (abs(math.log(lead / PUBLISHED_LEAD["C9orf72"]))
                            + abs(math.log(level / PUBLISHED_LEVEL)))
                found.append((distance, lead, level, survival, v))
    print(f"  {inside} of {draws} draws in every window (lead {LEAD_WINDOW[0]:g}-"
          f"{LEAD_WINDOW[1]:g} months, level {LEVEL_WINDOW[0]:.2f}-{LEVEL_WINDOW[1]:.2f} x "
          f"sporadic, survival {SURVIVAL_MONTHS[0]:g}-{SURVIVAL_MONTHS[1]:g}), {len(found)} "
          "of them with onset after the shared misfolding starts")
    for _, lead, level, survival, v in sorted(found, key=lambda f: f[0])[:show]:
        named = ", ".join(f"{n} {v[n]:.3g}" for n in names)
        print(f"    lead {lead:.1f}, level {level:.2f}, survival {survival:.1f}: {named}, "
              f"misfolding_delay {v['misfolding_delay']:.0f}")


def level_search(draws: int) -> None:
    """`--level`: both searches, then the newest preset with other leaks and proteostasis
    capacities, each at the prodrome that keeps the published lead."""
    from scipy.optimize import brentq

    sporadic = _leads_and_survivals([preset_values("sporadic", "human")])[0].level
    for version, injury in ((REVISION_10, "dpr_injury"), (None, "dpr_axon_injury")):
        preset = preset_values("C9orf72", "human", *(version,) if version else ())
        (lead, survival, level, _), = _leads_and_survivals([preset])
        print(f"C9orf72 preset {version or 'newest'} ({injury}): NfL lead {lead:.1f} months, "
              f"NfL a year after onset {level / sporadic:.2f} x sporadic's, survival "
              f"{survival:.1f} months; published about {PUBLISHED_LEAD['C9orf72']:.0f} months "
              f"and {PUBLISHED_LEVEL}")
        _level_draws(preset, injury, draws, sporadic)
    preset = preset_values("C9orf72", "human")
    rows = [(f"dpr_axon_injury {leak:g}", dict(preset, dpr_axon_injury=leak))
            for leak in (0.0034, 0.005, 0.007, 0.01, 0.015)]
    rows += [(f"autophagy_capacity {capacity:g}", dict(preset, autophagy_capacity=capacity))
             for capacity in (0.7, 0.8, 0.9, 1.0)]
    print("Newest preset with one value changed, each with the prodrome D that gives the "
          "published lead at 2x healthy:")
    for label, values in rows:
        def lead_minus_published(delay: float, values: dict = values) -> float:
            v = dict(values, misfolding_delay=delay)
            return _leads_and_survivals([v])[0].lead - PUBLISHED_LEAD["C9orf72"]

        v = dict(values, misfolding_delay=brentq(lead_minus_published, 200.0, 2000.0,
                                                 xtol=0.5))
        (lead, survival, level, _), = _leads_and_survivals([v])
        lead_3x = _leads_and_survivals([v], threshold=3.0)[0].lead
        print(f"  {label}: D {v['misfolding_delay']:.0f} days, lead {lead:.1f} months at 2x "
              f"and {lead_3x:.1f} at 3x, level {level / sporadic:.2f} x sporadic's, survival "
              f"{survival:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1500)
    parser.add_argument("--delayed", action="store_true",
                        help="the genotype's own rates with a prodrome before the shared "
                             "misfolding switches on")
    parser.add_argument("--dpr-injury", type=float, default=0.0,
                        help="dipeptide repeats injure axons at this weight of a misfolded "
                             "protein's (`dpr_injury`)")
    parser.add_argument("--level", action="store_true",
                        help="C9orf72's NfL lead and its level after onset together")
    args = parser.parse_args()
    if args.dpr_injury < 0:
        parser.error("--dpr-injury must be >= 0")
    if args.level:
        level_search(args.draws)
        return
    for genotype in ("C9orf72", "FUS"):
        if args.delayed:  # the preset has no prodrome: its own line is the run without
            print(f"{genotype}: published lead about {PUBLISHED_LEAD[genotype]:.0f} months")
        else:
            (lead, survival, *_), = _leads_and_survivals([preset_values(genotype, "human",
                                                                    BEFORE)])
            print(f"{genotype} preset: NfL lead {lead:.1f} months, survival "
                  f"{survival:.1f} months; published lead about "
                  f"{PUBLISHED_LEAD[genotype]:.0f}")
        searches = ((("own rates and a prodrome", OWN[genotype]),) if args.delayed else
                    (("own rates", OWN[genotype]),
                     ("own + shared rates", OWN[genotype] + SHARED)))
        for label, names in searches:
            r = search(genotype, names, args.draws, delayed=args.delayed,
                       dpr_injury=args.dpr_injury)
            found = ("" if r["longest_lead"] is None else
                     f"; longest lead {r['longest_lead']:.1f} months (survival "
                     f"{r['its_survival']:.1f}"
                     + (f", prodrome {r['its_prodrome']:.1f}" if args.delayed else "")
                     + f") at log10 factors {r['its_log10_factors']}")
            print(f"  {label} ({len(names)}): {r['solved']} of {args.draws} solved, "
                  f"{r['in_window']} with survival {SURVIVAL_MONTHS[0]:g}-"
                  f"{SURVIVAL_MONTHS[1]:g} months{found}")


if __name__ == "__main__":
    main()
