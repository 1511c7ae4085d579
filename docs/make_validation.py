"""Run the published-data calibrations (fit/published/*.toml), make the figures and the
numbers of docs/validation.md.

    python docs/make_validation.py            # run every recipe, then figures and numbers
    python docs/make_validation.py --reuse    # figures and numbers from the saved fits
    python docs/make_validation.py --only mouse_g93a   # rerun one recipe (others reused)
    python docs/make_validation.py --reuse --block nfl --block tofersen   # some blocks only

Fits are saved to docs/validation_results.json (estimates, 95% Laplace intervals,
profiles, every start's objective, timings); the held-out predictions and the numbers
quoted in validation.md are written to docs/validation_numbers.json. Each fit's output
files (parameters.csv, predictions.csv, summary.json, fit.png, profiles.csv) go to
out/validation/<recipe>/ (not committed). Figures: docs/figures/validation_*.png.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.signal import lfilter  # noqa: E402
from scipy.stats import norm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import alsjax  # noqa: E402
from alsjax._likelihood import ARM_EVENT_SD, EVENT_SD  # noqa: E402
from alsjax._presets import LATEST_PRESET  # noqa: E402

RECIPES = ("mouse_g93a", "human_natural_history", "human_registry_survival",
           "edaravone_mci186_19", "riluzole_bensimon", "human_pace_survival",
           "human_survival_spread", "human_pace_survival_munix", "edaravone_brooks_survival",
           "edaravone_trial_and_survival", "edaravone_all_tables", "sod1_survival",
           "sod1_a4v_survival")
FIT = ROOT / "fit" / "published"
PUB = ROOT / "data" / "published"
FIG = ROOT / "docs" / "figures"
RESULTS = ROOT / "docs" / "validation_results.json"
NUMBERS = ROOT / "docs" / "validation_numbers.json"
MONTH = 365.25 / 12
LONG = 36500.0  # days: far enough for any human event


# --- fits ----------------------------------------------------------------------------------


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def run(name: str) -> dict:
    path = FIT / f"{name}.toml"
    t0 = time.perf_counter()
    res = alsjax.run_recipe(path, out=ROOT / "out" / "validation" / name,
                            command=["alsjax", "fit", f"fit/published/{name}.toml"])
    wall = time.perf_counter() - t0
    return {
        "recipe": f"fit/published/{name}.toml",
        "preset_version": res.data.preset_version,
        "names": list(res.names),
        "estimates": {n: _f(v) for n, v in res.estimates.items()},
        "ci_low": {n: _f(v) for n, v in res.ci_low.items()},
        "ci_high": {n: _f(v) for n, v in res.ci_high.items()},
        "lower": {n: _f(v) for n, v in res.lower.items()},
        "upper": {n: _f(v) for n, v in res.upper.items()},
        "converged": bool(res.converged),
        "objective": float(res.objective),
        "n_starts": int(res.n_starts),
        "start_objectives": [_f(v) for v in res.start_objectives],
        "start_converged": [bool(v) for v in res.start_converged],
        "n_iter": int(res.n_iter),
        "wall_s": round(wall, 1),
        "compile_s": round(float(res.compile_time), 1),
        "profiles": [{
            "parameter": p.parameter, "values": [_f(v) for v in p.values],
            "objective": [_f(v) for v in p.objective], "best": float(p.best),
            "ci_low": _f(p.ci_low), "ci_high": _f(p.ci_high),
            "converged": [bool(c) for c in p.converged],
        } for p in res.profiles],
    }


# --- the model at fitted values ----------------------------------------------------------


def params(fit: dict | None, genotype="sporadic", species="human", **extra):
    """Preset of genotype/species with the fit's model parameters (and `extra`) set.

    The preset version is the fit's own (fits recorded before versions were saved ran
    under 2026.12, or legacy, whose human presets differ only in the NfL injury term,
    which those fits do not read); with no fit, the newest. The mouse's "preset" is the
    legacy one, which the mouse_g93a recipe starts from (the 2026.12 mouse preset is that
    fit's result)."""
    values = {} if fit is None else {n: v for n, v in fit["estimates"].items() if ":" not in n}
    values.update(extra)
    version = (alsjax.PRESET_VERSIONS[-1] if fit is None
               else fit.get("preset_version", "2026.12"))
    version = "legacy" if species == "mouse" else version
    return alsjax.default_params(genotype, species, preset_version=version).replace(**values)


def preset_of(fit: dict, **extra):
    """The sporadic human preset of the version `fit` was made under, with `extra` set: a
    prediction from a fit keeps that fit's other parameters, whatever the newest preset."""
    return params({"estimates": {}, "preset_version": fit.get("preset_version", "2026.12")},
                  **extra)


def interval(fit: dict, name: str) -> dict[str, float]:
    """Estimate and 95% interval: Laplace where finite, else the profile's likelihood-ratio
    interval (a side the profile never crosses: the bound), else the estimate itself."""
    est = fit["estimates"][name]
    lo, hi = fit["ci_low"][name], fit["ci_high"][name]
    if lo is None or hi is None:
        prof = [p for p in fit["profiles"] if p["parameter"] == name]
        if prof:
            lo = fit["lower"][name] if prof[0]["ci_low"] is None else prof[0]["ci_low"]
            hi = fit["upper"][name] if prof[0]["ci_high"] is None else prof[0]["ci_high"]
        else:
            lo = hi = est
    return {"estimates": est, "ci_low": lo, "ci_high": hi}


def sim(p, ts, **drugs):
    therapy = alsjax.make_therapy(**drugs) if drugs else None
    return alsjax.simulate(p, np.asarray(ts, float), therapy)


def onset(p) -> float:
    return float(sim(p, [0.0, LONG]).events["onset"])


def death(p, **drugs) -> float:
    return float(sim(p, [0.0, LONG], **drugs).events["death"])


def survival(T: float, origin: float, t):
    """The likelihood's survival curve of an arm on the data clock: P(death after data day
    t) when the arm's course dies on model day T and data day 0 is model day `origin`
    (log-normal about T - origin, SD ARM_EVENT_SD, as `alsjax.log_likelihood` reads arm
    summaries)."""
    t = np.asarray(t, float)
    return norm.cdf((math.log(max(T - origin, 1e-6)) - np.log(np.maximum(t, 1e-6)))
                    / ARM_EVENT_SD)


def alsfrs(p, ts, **drugs) -> np.ndarray:
    return np.asarray(sim(p, ts, **drugs).observables["alsfrs_r"])


def hazard_ratio(p, start: float, day: float) -> float:
    """Limb death hazard on `day` with edaravone from `start` over the hazard without it
    (riluzole from `start` in both, as the trial's arms)."""
    from alsjax._model import death_hazard, limb_drugs
    from alsjax._params import physical

    r, out = physical(p), []
    for drugs in (dict(riluzole=start, edaravone=start), dict(riluzole=start)):
        active = alsjax.make_therapy(**drugs).active(day)
        y = sim(p, [day], **drugs).ys[-1]
        out.append(float(death_hazard(y, r, limb_drugs(active, r))))
    return out[0] / out[1]


def first_day_at(t: np.ndarray, x: np.ndarray, level: float) -> float:
    """First time in `t` at which the falling course `x` reaches `level`, linear between
    samples: `t[0]` if it starts there, NaN if it never gets there."""
    i = int(np.argmax(x <= level))
    if x[i] > level:
        return math.nan
    if i == 0:
        return float(t[0])
    return float(np.interp(level, x[i:i - 2:-1], t[i:i - 2:-1]))


def day_at_alsfrs(p, level: float) -> float:
    """First model day on which ALSFRS-R falls to `level` (untreated)."""
    ts = np.linspace(0.0, 4000.0, 8001)
    return first_day_at(ts, alsfrs(p, ts), level)


def binom_ci(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of a proportion."""
    z, p = 1.96, k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


def counts(csv: str, by: str, at: float) -> dict[str, tuple[int, int]]:
    """(alive at `at`, n) per group, from the table's arm summaries of death at day `at`
    (a group may hold several arms: Bensimon's by onset site)."""
    df = pd.read_csv(PUB / csv)
    df = df[(df["observable"] == "death") & (df["time"] == at)]
    out = {}
    for g, d in df.groupby(by):
        alive = (d["n"] * (1.0 - d["value"])).round().astype(int)
        out[str(g)] = (int(alive.sum()), int(d["n"].sum()))
    return out


# --- numbers and figures, one block per table ----------------------------------------------


PLACEBO_ARMS = (("mci186_19_placebo", "MCI186-19 placebo (Al-Chalabi 2020)"),
                ("centaur_placebo", "CENTAUR placebo (Paganoni 2020)"))
ARM_DAYS = np.linspace(-60, 300, 181)


def placebo_panels(fig: Figure, cols: int, df: pd.DataFrame, p, origin: dict, label: str):
    """The two placebo arms' ALSFRS-R (data ± 95 %) and `p`'s course from each arm's model
    day `origin`, in the first two of `cols` panels; returns the axes by arm."""
    axes = {}
    for i, (subj, title) in enumerate(PLACEBO_ARMS):
        ax = axes[subj] = fig.add_subplot(1, cols, i + 1)
        d = df[df["subject"] == subj]
        ax.plot(ARM_DAYS, alsfrs(p, np.maximum(origin[subj] + ARM_DAYS, 0.0)), "C0-",
                label=label)
        ax.errorbar(d["time"], d["value"], yerr=1.96 * d["sigma"], fmt="ks",
                    label="data ± 95%")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("trial day")
        ax.set_ylabel("ALSFRS-R")
    return axes


def _save(fig: Figure, name: str) -> None:
    fig.tight_layout()
    fig.savefig(FIG / f"validation_{name}.png", dpi=110)


def mouse(fits: dict, num: dict) -> None:
    fit = fits["mouse_g93a"]
    p0 = params(None, "SOD1", "mouse")
    p1 = params(fit, "SOD1", "mouse")
    ts = np.linspace(0, 200, 401)
    s0, s1 = sim(p0, ts), sim(p1, ts)
    e0, e1 = float(s0.events["end_stage"]), float(s1.events["end_stage"])
    umn110 = [float(sim(p, [0.0, 110.0]).observables["umn"][1]) for p in (p0, p1)]
    lmn110 = [float(sim(p, [0.0, 110.0]).observables["lmn"][1]) for p in (p0, p1)]
    lmn_end = [float(np.interp(e, ts, np.asarray(s.observables["lmn"])))
               for e, s in ((e0, s0), (e1, s1))]
    onset_days = [float(s0.events["onset"]), float(s1.events["onset"])]
    d0, d1 = float(s0.events["death"]), float(s1.events["death"])
    num["mouse"] = dict(death_preset=d0, death_fit=d1, death_minus_end_stage_fit=d1 - e1,
                        end_stage_preset=e0, end_stage_fit=e1, umn110_preset=umn110[0],
                        umn110_fit=umn110[1], lmn110_preset=lmn110[0], lmn110_fit=lmn110[1],
                        lmn_at_end_stage_preset=lmn_end[0], lmn_at_end_stage_fit=lmn_end[1],
                        onset_preset=onset_days[0], onset_fit=onset_days[1],
                        end_stage_sd_implied=EVENT_SD * e1)
    fig = Figure(figsize=(11, 3.6))
    x = np.linspace(80, 180, 400)
    panels = (("solomon2011_g93a_endstage.csv", "end stage", "CS 4 (fitted)", e0, e1),
              ("solomon2011_g93a_cs5_death.csv", "death", "CS 5 as death (held out)", d0, d1))
    for k, (csv, event, title, v0, v1) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        ages = pd.read_csv(PUB / csv)["time"].to_numpy()
        ax.hist(ages, bins=20, density=True, color="0.8",
                label="Solomon 2011 (162 mice, pseudo-rows)")
        for e, style, lab in ((v0, "--", "preset"), (v1, "-", "fitted")):
            dens = norm.pdf(np.log(x), math.log(e), EVENT_SD) / x
            ax.plot(x, dens, style, label=f"model, {lab}: {event} {e:.1f} d (log-normal SD 0.1)")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("age (days)")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    _save(fig, "solomon2011_endstage")
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    for s, style, lab in ((s0, "--", "preset"), (s1, "-", "fitted")):
        ax.plot(ts, np.asarray(s.observables["umn"]), "C0" + style, label=f"UMN, {lab}")
        ax.plot(ts, np.asarray(s.observables["lmn"]), "C1" + style, label=f"LMN, {lab}")
    ax.errorbar([110], [0.47], yerr=[1.96 * 0.05], fmt="ks",
                label="Zang 2002: 0.47 at 110 d (SD 0.05 assumed)")
    ax.axvline(123.9, color="0.6", lw=0.8)
    ax.text(124.5, 0.05, "end stage 123.9 d", fontsize=7, color="0.4")
    ax.set_xlabel("age (days)")
    ax.set_ylabel("fraction surviving")
    ax.legend(fontsize=7)
    _save(fig, "zang2002_umn")


def natural_history(fits: dict, num: dict) -> None:
    fit = fits["human_natural_history"]
    p1 = params(fit)
    on = onset(p1)
    sh = {k.split(":", 1)[1]: v for k, v in fit["estimates"].items() if k.startswith("shift:")}
    origin = {k: max(on + v, 0.0) for k, v in sh.items()}
    df = pd.read_csv(FIT / "data" / "human_placebo_alsfrs.csv")
    eda = fits["edaravone_mci186_19"]
    # Held-out: CENTAUR from the MCI186-19-calibrated pace (edaravone recipe).
    pred = {}
    for tag in ("estimates", "ci_low", "ci_high"):
        p = preset_of(eda, apoptotic_death_rate=interval(eda, "apoptotic_death_rate")[tag])
        d = day_at_alsfrs(p, 36.7)
        a = alsfrs(p, [d, d + 168.0])
        pred[tag] = float((a[1] - a[0]) / (168.0 / MONTH))
    # Natural-history fit: the CENTAUR shift against the stated 13.6 +/- 3.6 months.
    p0, p0_version = params(None), alsjax.PRESET_VERSIONS[-1]
    d0 = day_at_alsfrs(p0, 36.7)
    a0 = alsfrs(p0, [d0, d0 + 168.0])
    num["natural_history"] = dict(
        onset=on, death=death(p1), survival_months=(death(p1) - on) / MONTH,
        preset_survival_months=(death(p0) - onset(p0)) / MONTH,
        centaur_months_after_onset=sh["centaur_placebo"] / MONTH,
        mci_months_after_onset=sh["mci186_19_placebo"] / MONTH,
        fitted_values={k: float(v) for k, v in zip(
            [f"{s}@{t:g}" for s, t in zip(df["subject"], df["time"], strict=True)],
            [alsfrs(p1, [origin[s], origin[s] + t])[1]
             for s, t in zip(df["subject"], df["time"], strict=True)], strict=True)},
        centaur_slope_pred_from_mci=pred, centaur_slope_preset=float(
            (a0[1] - a0[0]) / (168 / MONTH)),
    )
    fig = Figure(figsize=(9, 3.6))
    axes = placebo_panels(fig, 2, df, p1, origin, "natural-history fit (both arms)")
    ax, t = axes["centaur_placebo"], ARM_DAYS
    for tag, style in (("estimates", "C3--"), ("ci_low", "C3:"), ("ci_high", "C3:")):
        p = preset_of(eda, apoptotic_death_rate=interval(eda, "apoptotic_death_rate")[tag])
        dd = day_at_alsfrs(p, 36.7)
        ax.plot(t, alsfrs(p, np.maximum(dd + t, 0.0)), style, label=(
            "held-out: MCI186-19-calibrated pace" if tag == "estimates" else None))
    ax.plot(t, alsfrs(p0, np.maximum(d0 + t, 0.0)), "0.5", ls="-.",
            label=f"preset {p0_version}")
    for ax in axes.values():
        ax.legend(fontsize=7)
    _save(fig, "paganoni2020_centaur")


def edaravone(fits: dict, num: dict) -> None:
    fit = fits["edaravone_mci186_19"]
    p1 = params(fit)
    s = onset(p1)  # data day 0, on the model clock
    df = pd.read_csv(PUB / "alchalabi2020_edaravone_alsfrs.csv")
    t = np.linspace(0, 300, 151)
    arms = {"placebo": alsfrs(p1, s + t, riluzole=s),
            "edaravone": alsfrs(p1, s + t, riluzole=s, edaravone=s + 84)}
    at = {a: np.interp([0, 84, 252], t, v).tolist() for a, v in arms.items()}
    # Held-out: survival effect of edaravone from randomisation (day 84), months, across
    # the interval of the route it acts on (recipes before revision 8: of its efficacy).
    knob = ("oxidative_death_rate" if "oxidative_death_rate" in fit["estimates"]
            else "edaravone_efficacy")
    gain = {}
    for tag in ("estimates", "ci_low", "ci_high"):
        p = params(fit, **{knob: interval(fit, knob)[tag]})
        gain[tag] = (death(p, riluzole=s, edaravone=s + 84) - death(p, riluzole=s)) / MONTH
    # How soon it acts: the arms' ALSFRS-R difference 2, 4, 8, 12 and 24 weeks after
    # randomisation, and the fall of the limb death hazard 2 weeks after it.
    weeks = (2, 4, 8, 12, 24)
    ts = [s + 84 + 7.0 * w for w in weeks]
    diff = alsfrs(p1, ts, riluzole=s, edaravone=s + 84) - alsfrs(p1, ts, riluzole=s)
    num["edaravone"] = dict(origin=s, alsfrs_at_0_84_252=at, knob=knob,
                            effect_by_week={w: float(d) for w, d in zip(weeks, diff,
                                                                        strict=True)},
                            hazard_ratio_2wk=hazard_ratio(p1, s + 84, s + 98),
                            effect_24wk=at["edaravone"][2] - at["placebo"][2],
                            survival_gain_months=gain,
                            survival_months_after_onset=(death(p1, riluzole=s) - s) / MONTH,
                            alsfrs_at_origin=48 * fit["estimates"]["onset_threshold"])
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    for i, (a, v) in enumerate(arms.items()):
        d = df[df["arm"] == a]
        ax.plot(t, v, f"C{i}-", label=f"fit, {a}")
        ax.errorbar(d["time"] + (i - 0.5) * 3, d["value"], yerr=1.96 * d["sigma"],
                    fmt=f"C{i}s", label=f"Al-Chalabi 2020, {a} ± 95%")
    ax.axvline(84, color="0.6", lw=0.8)
    ax.text(86, 44, "randomisation", fontsize=7, color="0.4")
    ax.set_xlabel("day from lead-in start")
    ax.set_ylabel("ALSFRS-R")
    ax.legend(fontsize=7)
    _save(fig, "alchalabi2020_edaravone")


def edaravone_gain(p, start: float) -> float:
    """Months of survival edaravone adds when started on model day `start`."""
    return (death(p, edaravone=start) - death(p)) / MONTH


def mci186_19_day_252(p, origin: float) -> tuple[float, float]:
    """MCI186-19's placebo and edaravone arms at day 252 when the trial's day 0 is model
    day `origin`: riluzole from day 0 in both, edaravone from randomisation (day 84)."""
    placebo, drug = (alsfrs(p, [origin + 252.0], riluzole=origin, **d)[0]
                     for d in ({}, {"edaravone": origin + 84}))
    return float(placebo), float(drug)


def edaravone_survival(fits: dict, num: dict) -> None:
    """Brooks 2022: edaravone's efficacy from real-world survival (fitted), and what it
    predicts for MCI186-19's 24-week ALSFRS-R effect (held out) and for a start 16 months
    after onset (check 4b's question)."""
    fit = fits["edaravone_brooks_survival"]
    p1 = params(fit)
    s = onset(p1)  # the index date, on the model clock
    T = {"edaravone": death(p1, edaravone=s), "no_edaravone": death(p1)}
    trial = fits["edaravone_mci186_19"]
    base = preset_of(fit)
    on = onset(base)
    # The efficacy's interval: its profile's (two numbers, two parameters: the Laplace
    # interval's symmetry on the log scale is an approximation the profile does not need).
    prof = next(p for p in fit["profiles"] if p["parameter"] == "edaravone_efficacy")
    efficacy = dict(estimates=fit["estimates"]["edaravone_efficacy"],
                    ci_low=prof["ci_low"], ci_high=prof["ci_high"])
    pred = {}
    for tag, e in efficacy.items():
        q = params(trial, edaravone_efficacy=e)
        placebo, drug = mci186_19_day_252(q, onset(q))
        pred[tag] = dict(efficacy=e, mci186_19_effect_24wk=drug - placebo,
                         gain_from_16_months=edaravone_gain(
                             base.replace(edaravone_efficacy=e), on + 16 * MONTH))
    # The preset's efficacy on the same fitted stage, for the figure and the text.
    preset_efficacy = float(alsjax.physical(base)["edaravone_efficacy"])
    T05 = death(p1.replace(edaravone_efficacy=preset_efficacy), edaravone=s)
    num["edaravone_survival"] = dict(
        origin=s, alsfrs_at_index=48 * fit["estimates"]["onset_threshold"],
        months_from_onset_to_index=(s - on) / MONTH,
        median_months={a: (t - s) / MONTH for a, t in T.items()},
        gain_months=(T["edaravone"] - T["no_edaravone"]) / MONTH,
        preset_efficacy=preset_efficacy,
        gain_months_at_preset_efficacy=(T05 - T["no_edaravone"]) / MONTH,
        pred=pred)
    # Both tables fitted together (`edaravone_trial_and_survival`): what the joint values
    # give each table, and survival from onset without the drug (the preset: 35.1 months).
    joint = fits["edaravone_trial_and_survival"]
    pj = params(joint)
    on_j = onset(pj)
    d_mci = on_j + joint["estimates"]["shift:mci186_19_edaravone+mci186_19_placebo"]
    d_brooks = on_j + joint["estimates"]["shift:brooks_edaravone+brooks_no_edaravone"]
    placebo, drug = mci186_19_day_252(pj, d_mci)
    num["edaravone_survival"]["joint"] = dict(
        mci186_19_day_252=dict(placebo=placebo, edaravone=drug, effect=drug - placebo),
        mci186_19_months_after_onset=(d_mci - on_j) / MONTH,
        brooks_months_after_onset=(d_brooks - on_j) / MONTH,
        brooks_gain_months=edaravone_gain(pj, d_brooks),
        survival_from_onset_months=(death(pj) - on_j) / MONTH,
        preset_survival_from_onset_months=(death(base) - on) / MONTH,
        gain_from_16_months=edaravone_gain(pj, on_j + 16 * MONTH))
    df = pd.read_csv(PUB / "brooks2022_edaravone_survival.csv")
    t = np.linspace(0, 1500, 301)
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    for i, (arm, label) in enumerate((("no_edaravone", "untreated"),
                                      ("edaravone", "IV edaravone"))):
        ax.plot(t / MONTH, survival(T[arm], s, t), f"C{i}-", label=f"fit, {label}")
        row = df[df["arm"] == arm].iloc[0]
        lo, hi = binom_ci(int(round(row["n"] / 2)), int(row["n"]))
        ax.errorbar([row["time"] / MONTH], [0.5], yerr=[[0.5 - lo], [hi - 0.5]],
                    fmt=f"C{i}s", label=f"Brooks 2022 median, {label} (n {int(row['n'])})")
    ax.plot(t / MONTH, survival(T05, s, t), "C1--", lw=1.0,
            label=f"IV edaravone at the preset's efficacy {preset_efficacy:g}")
    ax.set_xlabel("months from the index date (first infusion)")
    ax.set_ylabel("fraction alive")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    _save(fig, "brooks2022_edaravone_survival")


def riluzole(fits: dict, num: dict) -> None:
    fit = fits["riluzole_bensimon"]
    p1 = params(fit)
    s = onset(p1)
    T0, T1 = death(p1), death(p1, riluzole=s)
    c = counts("bensimon1994_riluzole_survival.csv", "arm", 365.0)
    lac = counts("lacomblez1996_riluzole_survival.csv", "arm", 548.0)
    pred = {}
    for tag in ("estimates", "ci_low", "ci_high"):
        p = params(fit, riluzole_efficacy=interval(fit, "riluzole_efficacy")[tag])
        t1 = death(p, riluzole=s)
        a = alsfrs(p, [s, s + 168.0]), alsfrs(p, [s, s + 168.0], riluzole=s)
        pred[tag] = dict(
            lacomblez_placebo=float(survival(T0, s, 548.0)),
            lacomblez_riluzole=float(survival(t1, s, 548.0)),
            gain_months=(t1 - T0) / MONTH,
            alsfrs_24wk_effect=float(a[1][1] - a[0][1]),
        )
    num["riluzole"] = dict(
        origin=s, alsfrs_at_origin=48 * fit["estimates"]["onset_threshold"],
        months_from_model_onset_to_origin=(s - onset(preset_of(fit))) / MONTH,
        surv12_placebo=float(survival(T0, s, 365.0)),
        surv12_riluzole=float(survival(T1, s, 365.0)),
        bensimon=c, lacomblez=lac, pred=pred,
        lacomblez_ci={a: binom_ci(*lac[a]) for a in lac},
        bensimon_ci={a: binom_ci(*c[a]) for a in c},
    )
    t = np.linspace(0, 600, 301)
    for _tag, cnt, at, name, title in (
            ("bensimon", c, 365.0, "bensimon1994_riluzole", "Bensimon 1994 (fitted)"),
            ("lacomblez", lac, 548.0, "lacomblez1996_riluzole",
             "Lacomblez 1996 (held out: predicted from the Bensimon fit)")):
        fig = Figure(figsize=(6, 3.6))
        ax = fig.add_subplot()
        ax.plot(t, survival(T0, s, t), "C0-", label="model, placebo")
        for tag, style in (("estimates", "-"), ("ci_low", ":"), ("ci_high", ":")):
            p = params(fit, riluzole_efficacy=interval(fit, "riluzole_efficacy")[tag])
            ax.plot(t, survival(death(p, riluzole=s), s, t), "C1" + style,
                    label="model, riluzole (and 95% CI)" if tag == "estimates" else None)
        for a, (k, n) in cnt.items():
            lo, hi = binom_ci(k, n)
            col = "C0" if a == "placebo" else "C1"
            ax.errorbar([at], [k / n], yerr=[[k / n - lo], [hi - k / n]], fmt=col + "s",
                        alpha=1.0 if a in ("placebo", "riluzole", "riluzole_100mg") else 0.4,
                        label=f"{a}: {k}/{n}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("day from randomisation")
        ax.set_ylabel("fraction alive")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
        _save(fig, name)


def registry(fits: dict, num: dict) -> None:
    fit = fits["human_registry_survival"]
    p1 = params(fit)
    s = onset(p1)
    T = death(p1)
    on0 = onset(preset_of(fit))
    num["registry"] = dict(origin=s, months_after_onset=(s - on0) / MONTH,
                           alsfrs_at_diagnosis=48 * fit["estimates"]["onset_threshold"],
                           surv12=float(survival(T, s, 365.0)),
                           median_from_diagnosis_months=(T - s) / MONTH)
    t = np.linspace(0, 730, 301)
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    ax.plot(t, survival(T, s, t), "C0-", label="model (fitted stage at diagnosis)")
    lo, hi = binom_ci(116, 176)
    ax.errorbar([365], [116 / 176], yerr=[[116 / 176 - lo], [hi - 116 / 176]], fmt="ks",
                label="Wolf 2014: 116/176 alive at 1 year")
    ax.set_xlabel("day from diagnosis")
    ax.set_ylabel("fraction alive")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    _save(fig, "wolf2014_registry")


def slope_ratio(p, start: float, months: float = 12.0) -> float:
    """FVC (% predicted) lost per ALSFRS-R point over `months` from model day `start`:
    the ratio of the two slopes, which PRO-ACT puts at 2.24 / 1.02 = 2.2 (Atassi 2014)."""
    sol = sim(p, [start, start + months * MONTH])
    fvc, frs = (np.asarray(sol.observables[k]) for k in ("fvc", "alsfrs_r"))
    return float((fvc[0] - fvc[1]) / (frs[0] - frs[1]))


def pace_survival(fits: dict, num: dict) -> None:
    fit = fits["human_pace_survival"]
    p1 = params(fit)
    on, T = onset(p1), death(p1)
    sh = {k.split(":", 1)[1]: v for k, v in fit["estimates"].items() if k.startswith("shift:")}
    origin = {k: on + v for k, v in sh.items()}
    testa = pd.read_csv(PUB / "testa2004_survival_from_onset.csv")
    p0 = params(None)
    num["pace_survival"] = dict(
        onset=on, death=T, survival_months=(T - on) / MONTH,
        preset_survival_months=(death(p0) - onset(p0)) / MONTH,
        alive={f"{t:g}": float(survival(T, on, t)) for t in testa["time"]},
        centaur_months_after_onset=sh["centaur_placebo"] / MONTH,
        mci_months_after_onset=sh["mci186_19_placebo"] / MONTH,
        fvc_per_alsfrs_first_year=slope_ratio(p1, on),
        fvc_per_alsfrs_first_year_vulnerability_1=slope_ratio(
            p1.replace(respiratory_vulnerability=1.0), on),
        fvc_per_alsfrs_first_year_preset=slope_ratio(p0, onset(p0)),
        first_year_alsfrs_slope=float(-np.diff(alsfrs(p1, [on, on + 365.25]))[0] / 12.0),
    )
    df = pd.read_csv(FIT / "data" / "human_pace_and_survival.csv")
    fig = Figure(figsize=(11, 3.6))
    for ax in placebo_panels(fig, 3, df, p1, origin, "joint fit (pace and survival)").values():
        ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 3, 3)
    t = np.linspace(1.0, 8 * 365.25, 400)
    ax.plot(t / 365.25, survival(T, on, t), "C0-", label="joint fit")
    # The hand-tuned preset it replaced (the newest preset is this fit).
    hand = params({"estimates": {}, "preset_version": "2026.12.4"})
    ax.plot(t / 365.25, survival(death(hand), onset(hand), t), color="0.5", ls="-.",
            label="preset 2026.12.4 (hand-tuned)")
    alive = 1.0 - testa["value"].to_numpy()
    n = int(testa["n"].iat[0])
    ci = np.array([binom_ci(round(a * n), n) for a in alive])
    ax.errorbar(testa["time"] / 365.25, alive, yerr=[alive - ci[:, 0], ci[:, 1] - alive],
                fmt="ks", label="Testa 2004 (793 patients) ± 95%")
    ax.set_title("survival from symptom onset", fontsize=9)
    ax.set_xlabel("years since onset")
    ax.set_ylabel("fraction alive")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    _save(fig, "testa2004_pace_survival")
    spread = fits["human_survival_spread"]
    num["survival_spread"] = {n: interval(spread, n) for n in spread["estimates"]}


def nfl(fits: dict, num: dict) -> None:
    p1 = params(fits["human_natural_history"])
    p0 = params(None)
    out = {}
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    # "before": without NfL from injured axons (nfl_injury_release 0), every other state
    # the same; the model as it was before that revision.
    cases = [(p.replace(nfl_injury_release=0.0), "0.6", style, f"{lab}, before the revision")
             for p, style, lab in ((p0, "--", "preset"), (p1, "-", "natural-history fit"))]
    cases += [(p0, "C0", "--", "preset"), (p1, "C0", "-", "natural-history fit")]
    for p, color, style, lab in cases:
        on, de = onset(p), death(p)
        t = np.linspace(on - 366, de, 400)
        sol = sim(p, np.maximum(t, 0.0))
        ratio = np.asarray(sol.observables["nfl"]) / float(alsjax.physical(p)["nfl_baseline"])
        ax.plot((t - on) / MONTH, ratio, color=color, ls=style, label=f"model, {lab}")
        out[lab] = dict(max_ratio=float(ratio.max()),
                        ratio_at_onset=float(np.interp(on, t, ratio)),
                        ratio_at_12_months=float(np.interp(on + 365.25, t, ratio)),
                        ratio_12_months_before=float(np.interp(on - 365.25, t, ratio)))
    ax.axhline(95.4 / 3.3, color="k", label="Gaiottino 2013: 95.4 / 3.3 = 28.9")
    ax.axhline(4.0, color="0.5", ls=":", label="Lu 2015: about 4 (not a shipped row)")
    ax.set_yscale("log")
    ax.set_xlabel("months from model onset")
    ax.set_ylabel("serum NfL / healthy")
    ax.legend(fontsize=7)
    _save(fig, "gaiottino2013_nfl")
    num["nfl"] = out


def _nfl_spread_module():
    """fit/published/nfl_spread.py, which draws and solves the prior's patients."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "nfl_spread", ROOT / "fit" / "published" / "nfl_spread.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nfl_spread(fits: dict, num: dict) -> None:
    """Serum NfL's spread between prior draws (one year after onset) against Sugimoto
    2020's 30 patients, each relative to its own median (the pg/mL level depends on the
    assay): fitted by the newest population prior (2026.12.7), held out from 2026.12.6's
    and from the preset-centred one. `fit/published/nfl_spread.py` draws and pools."""
    spread = _nfl_spread_module()
    table = pd.read_csv(spread.SUGIMOTO)
    published = {g: spread.pooled_log_sd(table, g) for g in ("site_of_onset", "kings_stage")}
    out = {"published_log_sd": published}
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    bins = np.linspace(-4.0, 4.0, 41)
    for version, population, color, lab in (
            (LATEST_PRESET, True, "C0", f"population prior {LATEST_PRESET} (fitted)"),
            ("2026.12.6", True, "0.6", "population prior 2026.12.6"),
            (LATEST_PRESET, False, "C1", "preset-centred prior")):
        prior = alsjax.prior("sporadic", "human", preset_version=version,
                             population=population)
        log_nfl, _, _ = spread.nfl_one_year_after_onset(*spread.solved_draws(prior, 2000, 0))
        x = log_nfl - np.median(log_nfl)
        ax.hist(x, bins=bins, density=True, histtype="step", color=color,
                label=f"model, {lab}: log SD {log_nfl.std():.2f}")
        out[lab] = dict(log_sd=float(log_nfl.std()), n=int(log_nfl.size))
    sd = published["site_of_onset"]
    grid = np.linspace(-4.0, 4.0, 400)
    ax.plot(grid, norm.pdf(grid, 0.0, sd), "k",
            label=f"Sugimoto 2020, pooled from subgroups: log SD {sd:.2f}")
    ax.set_xlabel("ln(serum NfL / median), one year after onset (model); at sampling (data)")
    ax.set_ylabel("density")
    ax.set_ylim(0.0, 1.35 * norm.pdf(0.0, 0.0, sd))  # room for the legend
    ax.legend(fontsize=7, loc="upper left")
    _save(fig, "sugimoto2020_nfl_spread")
    num["nfl_spread"] = out


PRESYMPTOMATIC_LEVELS = (2.0, 3.0)  # x healthy: where a control range might end (a guess;
# Benatar 2018/2019's abstracts do not state their control ranges)
PRESYMPTOMATIC_PUBLISHED = {  # months before onset that serum NfL rose (abstracts)
    "SOD1": "6-12 (SOD1 A4V carriers; Benatar 2019)", "FUS": "about 24 (Benatar 2019)",
    "C9orf72": "about 42 (Benatar 2019)", "sporadic": "up to 12 (any gene; Benatar 2018)",
    "TARDBP": "not reported"}


def presymptomatic_nfl(fits: dict, num: dict) -> None:
    """Held-out check 12: how long before symptom onset each genotype's preset puts its
    serum NfL above a multiple of the healthy level, against Benatar 2018/2019's
    presymptomatic carriers (months before phenoconversion that NfL rose)."""
    out = {}
    fig = Figure(figsize=(7.6, 3.6))
    ax = fig.add_subplot()
    # Each genotype's preset, and C9orf72's before revision 10 (its prodrome) and revision
    # 11 (its direct injury) to compare.
    cases = [(g, g, alsjax.default_params(g), dict(color=f"C{i}", label=f"{g} preset"))
             for i, g in enumerate(("sporadic", "SOD1", "C9orf72", "TARDBP", "FUS"))]
    for version, ls in (("2026.12.9", "--"), ("2026.12.10", ":")):
        cases.append((f"C9orf72_{version}", "C9orf72",
                      alsjax.default_params("C9orf72", preset_version=version),
                      dict(color="C2", ls=ls, lw=0.9, label=f"C9orf72 preset {version}")))
    # SOD1 before 2026.12.12 (both misfoldings from day 0), and the fast course that
    # check 9 reads (the drive fitted to A4V carriers' survival)
    cases.append(("SOD1_2026.12.11", "SOD1", alsjax.default_params(
        "SOD1", preset_version="2026.12.11"), dict(color="C1", ls=":", lw=0.9,
                                                   label="SOD1 preset 2026.12.11")))
    cases.append(("SOD1_A4V", "SOD1", params(fits["sod1_a4v_survival"], "SOD1"),
                  dict(color="C1", ls="--", lw=0.9, label="SOD1, A4V's drive")))
    for key, genotype, p, style in cases:
        on = onset(p)
        t = np.linspace(0.0, on, 2001)  # from the cascade's healthy start
        ratio = (np.asarray(sim(p, t).observables["nfl"])
                 / float(alsjax.physical(p)["nfl_baseline"]))
        lead = {}
        for level in PRESYMPTOMATIC_LEVELS:
            below = np.flatnonzero(ratio < level)  # days still below the level
            if ratio[-1] < level:
                lead[f"{level:g}x"] = None  # not above it by onset
            else:  # from the last day below it (the cascade starts healthy, at day 0)
                lead[f"{level:g}x"] = (on - float(t[below[-1] + 1])) / MONTH
        out[key] = dict(onset_day=on, onset_months=on / MONTH,
                        ratio_at_onset=float(ratio[-1]),
                        ratio_12_months_before=float(np.interp(on - 365.25, t, ratio)),
                        months_before_onset=lead,
                        published=PRESYMPTOMATIC_PUBLISHED[genotype])
        ax.plot((t - on) / MONTH, ratio, **style)
    for level in PRESYMPTOMATIC_LEVELS:
        ax.axhline(level, color="0.5", ls=":", lw=0.8)
        ax.text(-51, level * 1.04, f"{level:g}x healthy", fontsize=7, color="0.4")
    for months, lab in ((-42, "C9orf72 carriers"), (-24, "FUS carriers")):
        ax.axvline(months, color="k", ls="--", lw=0.6)
        ax.text(months, 30, f" {lab}", rotation=90, va="center", fontsize=7)
    ax.axvspan(-12, -6, color="k", alpha=0.08)
    ax.text(-12, 60, " SOD1 A4V", fontsize=7, va="center")
    ax.set_yscale("log")
    ax.set_xlim(-52, 1)
    ax.set_xlabel("months before model onset (each curve starts at the cascade's start)")
    ax.set_ylabel("serum NfL / healthy")
    ax.set_title("When NfL rises before onset: model presets against Benatar 2019 "
                 "(lines, band)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, "benatar2019_presymptomatic_nfl")
    num["presymptomatic_nfl"] = out


def sod1(fits: dict, num: dict) -> None:
    """Bali 2017: the SOD1 mutant drive fitted to carriers' median survival from onset, all
    variants (behind preset 2026.12.12) and A4V (check 9's fast course), beside the SOD1
    preset before 2026.12.12: their pace, and a figure of their survival and NfL against
    the sporadic preset's."""
    df = pd.read_csv(PUB / "bali2017_sod1_survival.csv").set_index("subject")
    cases = {"all_sod1": params(fits["sod1_survival"], "SOD1"),
             "a4v": params(fits["sod1_a4v_survival"], "SOD1"),
             "SOD1_2026.12.11": alsjax.default_params("SOD1", preset_version="2026.12.11"),
             "sporadic": alsjax.default_params("sporadic")}
    t = np.linspace(0.0, 5000.0, 5001)
    out, courses = {}, {}
    for key, p in cases.items():
        sol = sim(p, t)
        on, de = float(sol.events["onset"]), float(sol.events["death"])
        nfl = np.asarray(sol.observables["nfl"]) / float(alsjax.physical(p)["nfl_baseline"])
        frs = np.asarray(sol.observables["alsfrs_r"])
        courses[key] = (on, de, nfl)
        # (their NfL a year after onset: the genotype_nfl_level block's SOD1 rows)
        out[key] = dict(mutant_sod1=float(alsjax.physical(p)["mutant_sod1"]), onset_day=on,
                        survival_from_onset_months=(de - on) / MONTH,
                        first_year_slope=alsfrs_slope(t, frs, on))
    for key, name in (("all_sod1", "sod1_survival"), ("a4v", "sod1_a4v_survival")):
        out[key]["fit"] = interval(fits[name], "mutant_sod1")
        out[key]["published_median_months"] = float(df.loc[key, "time"]) / MONTH
    out["non_a4v_published_median_months"] = float(df.loc["non_a4v", "time"]) / MONTH
    num["sod1"] = out
    fig = Figure(figsize=(10, 3.6))
    ax, bx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    m = np.linspace(0.0, 100.0, 401)
    styles = {"all_sod1": ("C1", "-", "fit, all variants (preset 2026.12.12)"),
              "a4v": ("C3", "-", "fit, A4V"),
              "SOD1_2026.12.11": ("C1", ":", "SOD1 preset 2026.12.11 (not fitted)"),
              "sporadic": ("C0", "--", "sporadic preset")}
    for key, (color, ls, label) in styles.items():
        on, de, nfl = courses[key]
        ax.plot(m, survival(de, on, m * MONTH), color=color, ls=ls, label=label)
        k = (t >= on - 730.5) & (t <= min(de, on + 1826.25))
        bx.plot((t[k] - on) / MONTH, nfl[k], color=color, ls=ls, label=label)
    for key, color in (("all_sod1", "C1"), ("a4v", "C3"), ("non_a4v", "0.4")):
        row = df.loc[key]
        lo, hi = binom_ci(int(round(row["n"] / 2)), int(row["n"]))
        ax.errorbar([row["time"] / MONTH], [0.5], yerr=[[0.5 - lo], [hi - 0.5]], fmt="s",
                    color=color, label=f"Bali 2017 median, {row['variant']} (n {int(row['n'])})"
                    + (", not fitted" if key == "non_a4v" else ""))
    ax.set_xlabel("months from symptom onset")
    ax.set_ylabel("fraction alive")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=6.5)
    bx.set_yscale("log")
    bx.axvline(12, color="0.5", ls=":", lw=0.8)
    bx.set_xlabel("months from the course's own onset")
    bx.set_ylabel("serum NfL / healthy")
    bx.set_title("NfL: SOD1's level a year after onset against sporadic disease's",
                 fontsize=8)
    bx.legend(fontsize=6.5)
    _save(fig, "bali2017_sod1_survival")


# An order without levels (abstract; check 14).
GENOTYPE_NFL_ORDER = ("C9orf72 > SOD1: plasma NfL at diagnosis (Behzadi 2021, Sci Rep, "
                      "doi 10.1038/s41598-021-01499-6)")
GENOTYPE_NFL_PUBLISHED = {  # blood NfL in symptomatic ALS, pg/mL (abstracts; check 14)
    "C9orf72 ALS (Saracino 2021, plasma, Simoa)": 71.76,
    "typical ALS, any genotype (Meyer 2024, serum, n = 1,791)": 75.7,
}


def genotype_nfl_level(fits: dict, num: dict) -> None:
    """Check 14: each human genotype's serum NfL at onset and a year after it, over
    healthy and over the sporadic preset's, against C9orf72 patients' blood NfL beside
    typical ALS's (two studies' abstracts: about level)."""
    out = {}
    cases = {g: alsjax.default_params(g) for g in ("sporadic", "SOD1", "C9orf72", "TARDBP", "FUS")}
    # C9orf72 before revision 11, whose injury squared with the misfolded pool's set it
    # high; SOD1 before 2026.12.12, whose two misfoldings did the same; A4V's fast course
    cases["C9orf72_2026.12.10"] = alsjax.default_params("C9orf72", preset_version="2026.12.10")
    cases["SOD1_2026.12.11"] = alsjax.default_params("SOD1", preset_version="2026.12.11")
    cases["SOD1_A4V"] = params(fits["sod1_a4v_survival"], "SOD1")
    for g, p in cases.items():
        on = onset(p)
        t = np.array([on, on + 365.25])
        ratio = (np.asarray(sim(p, t).observables["nfl"])
                 / float(alsjax.physical(p)["nfl_baseline"]))
        out[g] = dict(at_onset=float(ratio[0]), year_after_onset=float(ratio[1]))
    for g in out:
        out[g]["over_sporadic_at_onset"] = out[g]["at_onset"] / out["sporadic"]["at_onset"]
        out[g]["over_sporadic_year_after"] = (out[g]["year_after_onset"]
                                              / out["sporadic"]["year_after_onset"])
    c9, typical = GENOTYPE_NFL_PUBLISHED.values()
    sod1_over_c9 = {f"{s}/{c}": out[s]["year_after_onset"] / out[c]["year_after_onset"]
                    for s in ("SOD1", "SOD1_2026.12.11", "SOD1_A4V")
                    for c in ("C9orf72", "C9orf72_2026.12.10")}
    num["genotype_nfl_level"] = dict(model=out, published=GENOTYPE_NFL_PUBLISHED,
                                     published_c9orf72_over_typical=c9 / typical,
                                     model_sod1_over_c9orf72_year_after=sod1_over_c9,
                                     published_order=GENOTYPE_NFL_ORDER)


def mouse_neuron_timing(fits: dict, num: dict) -> None:
    """Held-out check 13: when the SOD1-G93A mouse preset loses its lower motor neurons,
    against Kong & Xu 1998 ("little motor neuron death" at onset; most die at the
    terminal stage, about 9 weeks after onset). Numbers only, no figure."""
    del fits
    p = alsjax.default_params("SOD1", species="mouse")
    t = np.linspace(0.0, 200.0, 4001)
    sol = sim(p, t)
    lmn = np.asarray(sol.observables["lmn"])
    on, end, de = (float(sol.events[k]) for k in ("onset", "end_stage", "death"))
    lost = {k: 1.0 - float(np.interp(d, t, lmn)) for k, d in
            (("onset", on), ("end_stage", end), ("death", de))}
    num["mouse_neuron_timing"] = dict(
        onset_day=on, end_stage_day=end, death_day=de, lost=lost,
        weeks_onset_to_death=(de - on) / 7.0,
        share_of_loss_after_onset=(lost["death"] - lost["onset"]) / lost["death"],
        share_of_loss_in_last_3_weeks=(lost["death"] - 1.0
                                       + float(np.interp(de - 21.0, t, lmn))) / lost["death"])


TOFERSEN_LAG = 182.625  # days from model onset to the first dose: a symptomatic stage
WEEKS_28 = 196.0  # VALOR's primary time point
CASE_SERIES = 198.0  # Meyer 2023: mean treatment duration 6.5 months


VALOR_PLACEBO_CHANGE = -8.14  # VALOR's faster-progressing subgroup, placebo, 28 weeks
VALOR_TOFERSEN_CHANGE = -6.98  # the same subgroup on tofersen
VALOR_52_WEEKS = dict(early=-6.0, delayed=-9.5)  # whole cohort, early and delayed start


def valor_arms(p, start: float) -> dict:
    """ALSFRS-R changes of VALOR's arms from day `start`: 28 weeks untreated (placebo) and
    on tofersen, and 52 weeks with tofersen from day 0 (early start) and from week 28
    (delayed start), each with its difference."""
    def change(weeks, **drugs):
        f = alsfrs(p, [start, start + 7 * weeks], **drugs)
        return float(f[1] - f[0])

    untreated, treated = change(28), change(28, tofersen=start)
    early, delayed = change(52, tofersen=start), change(52, tofersen=start + WEEKS_28)
    return dict(week_28=dict(placebo=untreated, tofersen=treated, effect=treated - untreated),
                week_52=dict(early=early, delayed=delayed, effect=early - delayed))


def valor(fits: dict, num: dict) -> None:
    """Held-out checks 9 and 9b: tofersen's ALSFRS-R effect in the SOD1 preset, started on
    the day its untreated course loses VALOR's faster subgroup's placebo change in the next
    28 weeks; at 28 weeks against untreated, and at 52 weeks from that day against a start
    28 weeks later (the open-label extension's early and delayed starts)."""
    out = {}
    # The SOD1 preset of 2026.12.6 (the version the check was written for) and the newest,
    # and since 2026.12.12 the fast course: the mutant drive fitted to A4V carriers'
    # survival (VALOR's faster subgroup was chosen by SOD1 variant and estimated ALSFRS-R
    # slope)
    cases = {v: alsjax.default_params("SOD1", preset_version=v)
             for v in ("2026.12.6", LATEST_PRESET)}
    cases["A4V"] = params(fits["sod1_a4v_survival"], "SOD1")
    for version, p in cases.items():
        t = np.arange(0.0, 3000.0, 1.0)
        frs = alsfrs(p, t)
        loss = np.interp(t + WEEKS_28, t, frs) - frs  # the change over the next 28 weeks
        if not (loss <= VALOR_PLACEBO_CHANGE).any():  # argmax would silently give day 0
            raise SystemExit(f"valor: the SOD1 course {version} never loses "
                             f"{-VALOR_PLACEBO_CHANGE} ALSFRS-R points in 28 weeks (at most "
                             f"{-loss.min():.2f}); check 9 needs a faster course")
        i = int(np.argmax(loss <= VALOR_PLACEBO_CHANGE))
        start = float(np.interp(VALOR_PLACEBO_CHANGE, loss[[i, i - 1]], t[[i, i - 1]]))
        out[version] = dict(start_day=start, months_after_onset=(start - onset(p)) / MONTH,
                            alsfrs_at_start=float(np.interp(start, t, frs)),
                            **valor_arms(p, start))
    # The A4V course qualifies before its own onset; the trial's patients were
    # symptomatic. The same effects started 0, 1 and 3 months after its onset instead.
    p, on = cases["A4V"], onset(cases["A4V"])
    out["A4V_after_onset"] = {
        months: dict(alsfrs_at_start=float(alsfrs(p, [on + months * MONTH])[0]),
                     **valor_arms(p, on + months * MONTH))
        for months in (0, 1, 3)}
    num["valor"] = out
    # The newest preset's course and the A4V course from their start days, as the trial's
    # arms: untreated, tofersen from day 0 (early start) and from week 28 (delayed start).
    weeks = np.linspace(0.0, 52.0, 105)
    fig = Figure(figsize=(10, 3.6))
    for k, (key, title) in enumerate(((LATEST_PRESET, f"SOD1 preset {LATEST_PRESET}"),
                                      ("A4V", "SOD1, A4V's drive (sod1_a4v_survival)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        p, start = cases[key], out[key]["start_day"]
        days = start + 7 * weeks
        for drugs, style, label in (({}, "C7-", "untreated (placebo)"),
                                    ({"tofersen": start}, "C3-", "tofersen from week 0"),
                                    ({"tofersen": start + WEEKS_28}, "C3--",
                                     "tofersen from week 28")):
            f = alsfrs(p, days, **drugs)
            ax.plot(weeks, f - f[0], style, label=label)
        ax.plot([28, 28], [VALOR_PLACEBO_CHANGE, VALOR_TOFERSEN_CHANGE], "ks", ms=5,
                label="VALOR faster subgroup, week 28 (placebo, tofersen)")
        ax.plot([52, 52], [VALOR_52_WEEKS["delayed"], VALOR_52_WEEKS["early"]], "k^", ms=5,
                label="whole cohort, week 52 (delayed, early start)")
        ax.axvline(28, color="0.6", ls=":", lw=0.8)
        ax.set_title(f"{title}: from day {start:.0f} "
                     f"({out[key]['months_after_onset']:+.1f} months from onset)", fontsize=8)
        ax.set_xlabel("weeks from the start (the day the untreated course loses 8.14 "
                      "points in 28)", fontsize=7)
        ax.set_ylabel("ALSFRS-R change from the start")
        ax.legend(fontsize=6.5, loc="lower left")
    _save(fig, "valor_tofersen_alsfrs")


def tofersen(fits: dict, num: dict) -> None:
    """Held-out check: serum NfL on tofersen in the SOD1 preset against the case series of
    Meyer et al. 2023, with and without NfL from injured axons (`nfl_injury_release` 0 is
    the model before that revision; every other state is the same in both)."""
    pub = pd.read_csv(PUB / "meyer2023_tofersen_nfl.csv").set_index("time")
    out = {"published": dict(ratio=float(pub.loc[CASE_SERIES, "value"]),
                             range_low=float(pub.loc[CASE_SERIES, "range_low"]),
                             range_high=float(pub.loc[CASE_SERIES, "range_high"]))}
    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot()
    p_after = params(None, "SOD1")
    for p, style, lab in ((p_after.replace(nfl_injury_release=0.0), "--", "before"),
                          (p_after, "-", "after")):
        start = onset(p) + TOFERSEN_LAG
        t = start + np.linspace(0.0, 240.0, 241)
        treated = np.asarray(sim(p, t, tofersen=start).observables["nfl"])
        untreated = np.asarray(sim(p, t).observables["nfl"])
        ratio, ratio0 = treated / treated[0], untreated / untreated[0]
        ax.plot((t - start) / 7, ratio, "C3" + style, label=f"model {lab} the revision, tofersen")
        ax.plot((t - start) / 7, ratio0, "C0" + style, lw=0.8,
                label=f"model {lab} the revision, untreated")
        at = lambda d, r, start=start, t=t: float(np.interp(start + d, t, r))  # noqa: E731
        out[lab] = dict(start_day=start, ratio_week_8=at(56.0, ratio),
                        ratio_week_28=at(WEEKS_28, ratio),
                        ratio_6_5_months=at(CASE_SERIES, ratio),
                        untreated_week_28=at(WEEKS_28, ratio0),
                        treated_over_untreated_week_28=at(WEEKS_28, ratio) / at(WEEKS_28, ratio0))
    pb = out["published"]
    ax.errorbar([CASE_SERIES / 7], [pb["ratio"]],
                yerr=[[pb["ratio"] - pb["range_low"]], [pb["range_high"] - pb["ratio"]]],
                fmt="ko", capsize=3, label="Meyer 2023: mean and range, n = 6")
    ax.axhline(1.0, color="0.5", lw=0.5)
    ax.set_xlabel("weeks from the first dose (SOD1 preset, dosed 6 months after onset)")
    ax.set_ylabel("serum NfL / pre-treatment")
    ax.legend(fontsize=7)
    _save(fig, "meyer2023_tofersen_nfl")
    num["tofersen"] = out


# Ebersbach 2023 (derived medians) and Neuwirth 2015 (relative slopes): data/published.
M50_MONTHS, D50_MONTHS = 14.0, 28.0
NEUWIRTH_RATIO = 3.2 / 2.3  # MUNIX total score over ALSFRS-R, % of baseline per month
RESERVES = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
BEFORE_REVISION_9 = "2026.12.7"  # the motor layer that the MUNIX checks and the reduced
# layer diagnosed (Hill 4 reinnervation, aggregates that outlive their neurons)


def months_to(t: np.ndarray, x: np.ndarray, level: float, on: float) -> float:
    """Months from day `on` until the falling course `x` (on days `t`) reaches `level`;
    NaN if it never does within `t`."""
    return (first_day_at(t, x, level) - on) / MONTH


def relative_decline(t: np.ndarray, x: np.ndarray, on: float, start: float = 12.0,
                     span: float = 12.0) -> float:
    """% of its value lost per month over `span` months from `start` months after `on`:
    what Neuwirth 2015 measured of MUNIX and ALSFRS-R."""
    a, b = (np.interp(on + m * MONTH, t, x) for m in (start, start + span))
    return float(100 * (1 - b / a) / span)


def alsfrs_slope(t: np.ndarray, frs: np.ndarray, on: float, year: int = 1) -> float:
    """ALSFRS-R points lost per month over year `year` (1: the first) after day `on`."""
    a, b = (np.interp(on + y * 365.25, t, frs) for y in (year - 1, year))
    return float((a - b) / 12)


def _scalars(course: dict) -> dict:
    """A course's numbers without its arrays (for validation_numbers.json)."""
    return {k: v for k, v in course.items() if not isinstance(v, np.ndarray)}


def course_summary(p) -> dict:
    """What a fitted sporadic course gives against the motor-unit and decline numbers:
    `motor_course`'s numbers, the ALSFRS-R slopes of years 1 and 2 after onset, and the
    limb hazard (per year) at onset and 12 and 24 months on (the exploration scripts of
    fit/published report these for each structure they refit)."""
    c = motor_course(p)
    t, frs = c["months"] * MONTH, c["alsfrs_r"]  # days from onset
    return dict(_scalars(c), lmn_lost_at_onset=1 - c["lmn_at_onset"],
                second_year_slope=alsfrs_slope(t, frs, 0.0, 2),
                hazard_per_year=hazard_per_year(_layer_base(p)))


def motor_course(p) -> dict:
    """The untreated course's limb LMN fraction and ALSFRS-R from onset, and what the two
    MUNIX papers measure of it: M50 and D50 (months from onset to `lmn` 0.5 and ALSFRS-R
    24), and the relative declines (% of the value at the start per month) over the 12
    months from 12 months after onset (about when patients are diagnosed and enrolled)."""
    on, de = onset(p), death(p)
    t = np.arange(on, de, 1.0)
    sol = sim(p, t)
    lmn = np.asarray(sol.ys[:, alsjax.STATE_NAMES.index("lmn")])
    frs = np.asarray(sol.observables["alsfrs_r"])
    m50, d50 = months_to(t, lmn, 0.5, on), months_to(t, frs, 24.0, on)  # NaN: not before death
    lmn_rel, frs_rel = relative_decline(t, lmn, on), relative_decline(t, frs, on)
    return dict(months=(t - on) / MONTH, lmn=lmn, alsfrs_r=frs, m50=m50, d50=d50,
                m50_over_d50=m50 / d50, lmn_at_onset=float(lmn[0]),
                lmn_percent_per_month=lmn_rel, alsfrs_percent_per_month=frs_rel,
                relative_ratio=lmn_rel / frs_rel, survival_months=(de - on) / MONTH,
                first_year_alsfrs_slope=alsfrs_slope(t, frs, on))


def motor_units_of_draws(n: int = 2000, seed: int = 0) -> dict:
    """M50 / D50 and the limb LMN fraction at onset over draws of the sporadic population
    prior (the newest preset version): whether the spread between patients the prior
    allows reaches the published ratio. Crossings are read on a half-month grid from onset
    (to 60 months), so each of M50 and D50 is rounded up to half a month."""
    spread = _nfl_spread_module()
    params, sol, onset, death = spread.solved_draws(alsjax.prior("sporadic"), n, seed)
    ok = np.asarray(sol.success) & np.isfinite(onset) & np.isfinite(death)
    grid = np.arange(121) * 0.5 * MONTH
    ts = np.where(ok[:, None], onset[:, None] + grid[None, :], grid[None, :])
    at = alsjax.simulate_batch(params, ts)
    lmn = np.asarray(at.ys[:, :, alsjax.STATE_NAMES.index("lmn")])
    frs = np.asarray(at.observables["alsfrs_r"])

    def grid_months_to(x, level):  # per draw, on the half-month grid
        hit = x <= level
        out = np.argmax(hit, axis=1) * 0.5
        return np.where(hit.any(axis=1), out, np.nan)

    m50, d50 = grid_months_to(lmn, 0.5), grid_months_to(frs, 24.0)
    both = ok & np.isfinite(m50) & np.isfinite(d50) & (d50 > 0)
    ratio = m50[both] / d50[both]
    q = lambda x: dict(zip(("p10", "median", "p90"), np.percentile(x, [10, 50, 90]), strict=True))  # noqa: E731
    return dict(draws=n, dying_within_20_years=int(ok.sum()), with_both=int(both.sum()),
                m50_over_d50=q(ratio), share_at_most_0_6=float(np.mean(ratio <= 0.6)),
                lmn_at_onset=q(lmn[ok, 0]), m50=q(m50[both]), d50=q(d50[both]))


def motor_units(fits: dict, num: dict) -> None:
    """Motor-unit loss against functional loss (Ebersbach 2023's M50 and D50, Neuwirth
    2015's relative declines): held out by the model before revision 9 (`BEFORE_REVISION_9`,
    with a scan of `motor_reserve`, the surviving fraction at which limb function gives
    way), and fitted by revision 9's preset (the joint recipe with the MUNIX rows), with
    the same scan under it. The relative declines stay held out: no recipe fits them."""
    p_before, p0 = alsjax.default_params(preset_version=BEFORE_REVISION_9), params(None)
    before, preset = motor_course(p_before), motor_course(p0)
    scans = {label: {r: motor_course(p.replace(motor_reserve=r)) for r in RESERVES}
             for label, p in (("before", p_before), ("preset", p0))}
    fit = fits["human_pace_survival_munix"]
    joint = motor_course(params(fit))
    reserve = lambda p: float(alsjax.physical(p)["motor_reserve"])  # noqa: E731
    num["motor_units"] = dict(
        published=dict(m50=M50_MONTHS, d50=D50_MONTHS, m50_over_d50=M50_MONTHS / D50_MONTHS,
                       relative_ratio=NEUWIRTH_RATIO),
        before_revision_9=dict(version=BEFORE_REVISION_9, motor_reserve=reserve(p_before),
                               **_scalars(before),
                               scan={f"{r:g}": _scalars(c) for r, c in scans["before"].items()}),
        preset=dict(motor_reserve=reserve(p0), **_scalars(preset)),
        scan={f"{r:g}": _scalars(c) for r, c in scans["preset"].items()},
        joint_fit=dict(fit={n: interval(fit, n) for n in fit["estimates"]},
                       objective=fit["objective"], **_scalars(joint)),
        prior_draws=motor_units_of_draws())
    fig = Figure(figsize=(11, 3.8))
    ax = fig.add_subplot(1, 2, 1)
    for c, style, lab in ((before, "-", f"{BEFORE_REVISION_9} (before revision 9)"),
                          (preset, "--", f"{LATEST_PRESET} (revision 9, fitted with MUNIX)")):
        ax.plot(c["months"], c["lmn"], "C0" + style, label=f"limb LMN fraction, {lab}")
        ax.plot(c["months"], c["alsfrs_r"] / 48, "C1" + style, label=f"ALSFRS-R / 48, {lab}")
    ax.plot([M50_MONTHS], [0.5], "C0s", ms=8, mec="k",
            label=f"Ebersbach 2023: M50 {M50_MONTHS:g} months (derived)")
    ax.plot([D50_MONTHS], [0.5], "C1D", ms=8, mec="k",
            label=f"Ebersbach 2023: D50 {D50_MONTHS:g} months (derived)")
    ax.axhline(0.5, color="0.6", lw=0.5)
    ax.set_xlabel("months from model onset (sporadic)")
    ax.set_ylabel("fraction of healthy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=6.5, loc="lower left")
    ax = fig.add_subplot(1, 2, 2)
    ax2 = ax.twinx()
    for name, label, p, course, style in ((BEFORE_REVISION_9, "before", p_before, before, "-"),
                                          (LATEST_PRESET, "preset", p0, preset, "--")):
        rs = list(RESERVES) + [reserve(p)]
        cs = [scans[label][r] for r in RESERVES] + [course]
        order = np.argsort(rs)
        rs, cs = [rs[i] for i in order], [cs[i] for i in order]
        ax.plot(rs, [c["m50_over_d50"] for c in cs], "C0o" + style, label=f"M50 / D50, {name}")
        ax.plot(rs, [c["relative_ratio"] for c in cs], "C2s" + style,
                label=f"LMN over ALSFRS-R decline, % per month, {name}")
        ax2.plot(rs, [c["first_year_alsfrs_slope"] for c in cs], "C3^" + style,
                 label=f"first-year ALSFRS-R loss, points/month, {name} (right)")
        ax.axvline(reserve(p), color="0.5", lw=0.8, ls=style)
    ax.axhline(M50_MONTHS / D50_MONTHS, color="C0", ls=":", label="Ebersbach 2023: about 0.5")
    ax.axhline(NEUWIRTH_RATIO, color="C2", ls=":", label="Neuwirth 2015: 3.2 / 2.3 = 1.39")
    ax.set_xlabel("motor_reserve (grey: each preset's; nothing else refitted)")
    ax.set_ylabel("ratio")
    ax2.set_ylabel("points per month", color="C3")
    ax2.set_ylim(0, None)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=6, loc="upper left")
    _save(fig, "ebersbach2023_munix")


# The reduced motor layer: the limb pool's own cumulative hazard, read off the preset's
# solve, drives neurons, reinnervation and muscle outside the cascade, so that structures
# the model does not have (regional pools, another reinnervation curve, a hazard that stops
# accelerating at onset) can be tried against the MUNIX numbers before any is built.
HILLS = (1, 2, 4)  # reinnervation curve exponents tried (the model's was `_RESERVE_HILL`, 4)
LAYER_RESERVES = (0.3, 0.4, 0.556)  # 0.556: the sporadic `motor_reserve` of BEFORE_REVISION_9
SPREADS = (3.0, 6.0, 12.0)  # months between the onsets of 4 regional pools


def motor_layer_course(base: dict, hill: int, reserve: float, steady: float | None = None,
                       regions: int = 1, spread: float = 0.0) -> dict:
    """ALSFRS-R and the limb LMN fraction (a MUNIX proxy) from the reduced motor layer.

    `base`: the preset's daily course (`_layer_base`). Each of `regions` pools follows the
    preset's cumulative hazard H(t) = -log(lmn), pool k delayed by k * `spread` months;
    with `steady` (per year), H grows linearly at that rate from the preset's onset day
    instead of accelerating. Pool k's muscle follows x^n (1 + R) / (R + x^n), R =
    reserve^n, with the preset's remodelling lag and spasticity; ALSFRS-R is 48 times the
    pools' mean function, the MUNIX proxy their mean LMN fraction, and onset the first day
    the first pool's function reaches the onset threshold."""
    t, r = base["t"], base["rates"]
    H = base["H"]
    if steady is not None:
        H = np.where(t < base["onset"], H,
                     np.interp(base["onset"], t, H) + steady / 365.25 * (t - base["onset"]))
    R = reserve ** hill
    lag = 1 - math.exp(-r["muscle_remodelling"])  # one day of the first-order remodelling
    lmns, functions = [], []
    for k in range(regions):
        lmn = np.exp(-np.interp(t - k * spread * MONTH, t, H, left=0.0))
        target = lmn**hill * (1 + R) / (R + lmn**hill)
        # muscle[i] = muscle[i - 1] + lag * (target[i - 1] - muscle[i - 1]), from target[0]
        muscle, _ = lfilter([0.0, lag], [1.0, lag - 1.0], target, zi=[target[0]])
        lmns.append(lmn)
        functions.append(muscle * (1 - r["spasticity_weight"] * (1 - base["umn"])))
    frs = 48 * np.clip(np.mean(functions, axis=0), 0.0, 1.0)
    lmn = np.mean(lmns, axis=0)
    on = first_day_at(t, functions[0], r["onset_threshold"])
    after = t >= on
    m50, d50 = months_to(t, lmn, 0.5, on), months_to(t, frs, 24.0, on)
    return dict(months=(t[after] - on) / MONTH, lmn=lmn[after], alsfrs_r=frs[after], m50=m50,
                d50=d50, m50_over_d50=m50 / d50,
                lmn_lost_at_onset=float(1 - np.interp(on, t, lmn)),
                relative_ratio=relative_decline(t, lmn, on) / relative_decline(t, frs, on),
                first_year_slope=alsfrs_slope(t, frs, on, 1),
                second_year_slope=alsfrs_slope(t, frs, on, 2),
                onset_shift_months=(on - base["onset"]) / MONTH)


def _layer_base(p) -> dict:
    """The preset's daily course to 8 years after its onset, for `motor_layer_course`."""
    on = onset(p)
    t = np.arange(0.0, on + 8 * 365.25, 1.0)
    ys = np.asarray(sim(p, t).ys)
    lmn = ys[:, alsjax.STATE_NAMES.index("lmn")]
    return dict(t=t, onset=on, H=-np.log(lmn), umn=ys[:, alsjax.STATE_NAMES.index("umn")],
                rates={k: float(v) for k, v in alsjax.physical(p).items()})


def hazard_per_year(base: dict, months=(0, 12, 24)) -> list[float]:
    """The limb death hazard (per year) of `_layer_base`'s course at these months from
    onset: the slope of its cumulative hazard."""
    h = np.gradient(base["H"], base["t"]) * 365.25
    return [float(np.interp(base["onset"] + m * MONTH, base["t"], h)) for m in months]


def hazard_routes(p, on: float, months=(0, 12, 24)) -> dict:
    """The limb death hazard's four routes (per year) and the aggregates at these months
    from onset (model day `on`, untreated): which of the cascade's loops makes the hazard
    accelerate."""
    from alsjax._model import glutamate_calcium, limb_drugs

    r = alsjax.physical(p)
    ys = np.asarray(sim(p, [on + m * MONTH for m in months]).ys)
    S = alsjax.STATE_NAMES
    out = {}
    for m, y in zip(months, ys, strict=True):
        _, calcium = glutamate_calcium(y, r, limb_drugs(jax.numpy.zeros(4), r))
        routes = dict(
            apoptotic=r["apoptotic_death_rate"] * y[S.index("apoptosis")],
            excitotoxic=r["excitotoxic_death_rate"] * max(float(calcium) - 1, 0.0),
            oxidative=r["oxidative_death_rate"] * max(y[S.index("ros")] - 1, 0.0),
            glial=r["glia_toxicity"] * (y[S.index("microglia")] + y[S.index("astrocytes")])
            * y[S.index("toxic_glia")])
        out[f"{m}"] = dict({k: float(v) * 365.25 for k, v in routes.items()},
                           aggregates=float(y[S.index("aggregates")]))
    return out


def steady_for_d50(base: dict, hill: int, reserve: float, d50: float = D50_MONTHS) -> float:
    """The steady hazard (per year) at which ALSFRS-R reaches 24 `d50` months after onset."""
    lo, hi = 0.05, 5.0  # D50 falls as the hazard rises
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        got = motor_layer_course(base, hill, reserve, steady=mid)["d50"]
        lo, hi = (mid, hi) if (math.isnan(got) or got > d50) else (lo, mid)
    return math.sqrt(lo * hi)


def motor_layer(fits: dict, num: dict) -> None:
    """Exploration (not a check, not the model): which motor-layer structure would meet
    the MUNIX numbers and a steady ALSFRS-R decline at once. Regional pools; the
    reinnervation curve's exponent; the hazard held steady from onset at the rate that
    puts D50 at 28 months (its one fitted number), M50 and the decline ratio then
    following."""
    p0 = alsjax.default_params(preset_version=BEFORE_REVISION_9)
    base = _layer_base(p0)
    preset_reserve = base["rates"]["motor_reserve"]
    reduced = motor_layer_course(base, 4, preset_reserve)
    full = motor_course(p0)
    both = reduced["months"] <= full["months"][-1]  # the full course, read at the same months
    on_full = np.interp(reduced["months"][both], full["months"], full["alsfrs_r"])
    regional = {f"{s:g}": motor_layer_course(base, 4, preset_reserve, regions=4, spread=s)
                for s in SPREADS}
    grid = {}
    for hill in HILLS:
        for reserve in LAYER_RESERVES:
            k = steady_for_d50(base, hill, reserve)
            grid[f"hill {hill}, reserve {reserve:g}"] = dict(
                accelerating=_scalars(motor_layer_course(base, hill, reserve)),
                steady=dict(hazard_per_year=k,
                            **_scalars(motor_layer_course(base, hill, reserve, steady=k))))
    num["motor_layer"] = dict(
        reduction_check=dict(
            max_alsfrs_difference=float(np.abs(reduced["alsfrs_r"][both] - on_full).max()),
            m50=(reduced["m50"], full["m50"]), d50=(reduced["d50"], full["d50"])),
        preset_hazard_per_year=dict(zip(("0", "12", "24"), hazard_per_year(base), strict=True)),
        preset_hazard_routes_per_year=hazard_routes(p0, base["onset"]),
        single_pool=_scalars(reduced),
        regional_4_pools={s: _scalars(c) for s, c in regional.items()},
        grid=grid)
    revised = params(None)  # revision 9, built from what this block found
    revised_base = _layer_base(revised)
    num["motor_layer"]["revised_hazard_per_year"] = dict(zip(("0", "12", "24"),
                                                             hazard_per_year(revised_base),
                                                             strict=True))
    num["motor_layer"]["revised_hazard_routes_per_year"] = hazard_routes(
        revised, revised_base["onset"])
    best = grid[f"hill 1, reserve {preset_reserve:g}"]
    k = best["steady"]["hazard_per_year"]
    shown = ((reduced, "C0-", "the model (Hill 4, accelerating hazard)"),
             (regional["6"], "C2--", "4 regional pools, 6 months apart"),
             (motor_layer_course(base, 1, preset_reserve, steady=k), "C3-",
              f"Hill 1, hazard steady at {k:.2f}/year from onset"))
    fig = Figure(figsize=(11, 3.8))
    for j, (key, ylabel) in enumerate((("alsfrs_r", "ALSFRS-R (points)"),
                                       ("lmn", "limb LMN fraction (MUNIX proxy)"))):
        ax = fig.add_subplot(1, 2, j + 1)
        for c, style, label in shown:
            ax.plot(c["months"], c[key], style, label=label)
        if key == "alsfrs_r":
            ax.plot([D50_MONTHS], [24.0], "kD", ms=7,
                    label=f"D50 {D50_MONTHS:g} months (Ebersbach 2023; red: fitted to it)")
            ax.plot([0, 24], [reduced["alsfrs_r"][0], reduced["alsfrs_r"][0] - 24 * 1.02],
                    color="0.6", ls=":", label="PRO-ACT's mean slope, 1.02 points/month")
        else:
            ax.plot([M50_MONTHS], [0.5], "ks", ms=7,
                    label=f"M50 {M50_MONTHS:g} months (Ebersbach 2023; no curve fitted to it)")
        ax.set_xlim(0, 48)
        ax.set_ylim(0, 49 if key == "alsfrs_r" else 1.02)
        ax.set_xlabel(f"months from onset (reduced motor layer, sporadic {BEFORE_REVISION_9}'s "
                      "hazard)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6.5, loc="lower left")
    _save(fig, "motor_layer")


def profiles(fits: dict) -> None:
    rows = -(-sum(len(fits[n]["profiles"]) for n in RECIPES) // 3)
    fig = Figure(figsize=(10, 2.75 * rows))
    k = 0
    for name in RECIPES:
        for pr in fits[name]["profiles"]:
            k += 1
            ax = fig.add_subplot(rows, 3, k)
            v = np.asarray(pr["values"], float)
            o = np.asarray([np.nan if x is None else x for x in pr["objective"]], float)
            ax.plot(v, 2 * (o - pr["best"]), "o-")
            ax.axhline(3.84, color="0.5", ls=":")
            ax.axvline(fits[name]["estimates"][pr["parameter"]], color="C3", lw=0.8)
            ax.set_title(f"{name}\n{pr['parameter']}", fontsize=8)
            ax.set_ylabel("2 Δ(-log L)", fontsize=8)
            ax.tick_params(labelsize=7)
    _save(fig, "profiles")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reuse", action="store_true", help="do not rerun the fits")
    ap.add_argument("--only", action="append", default=[], help="rerun only this recipe")
    ap.add_argument("--block", action="append", default=[],
                    help="with --reuse: redo only this block's numbers and figure")
    a = ap.parse_args()
    fits = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    todo = [] if a.reuse else (a.only or list(RECIPES))
    for name in todo:
        print(f"fitting {name} ...", flush=True)
        fits[name] = run(name)
        print(f"  {fits[name]['wall_s']} s, converged {fits[name]['converged']}", flush=True)
        RESULTS.write_text(json.dumps(fits, indent=1) + "\n")
    FIG.mkdir(exist_ok=True)
    blocks = (mouse, natural_history, edaravone, edaravone_survival, riluzole, registry,
              pace_survival, nfl, nfl_spread, presymptomatic_nfl, genotype_nfl_level, sod1,
              mouse_neuron_timing,
              tofersen, valor, motor_units, motor_layer)
    chosen = [b for b in blocks if b.__name__ in a.block] if a.block else blocks
    num: dict = json.loads(NUMBERS.read_text()) if a.block and NUMBERS.exists() else {}
    for block in chosen:
        if all(r in fits for r in RECIPES):
            block(fits, num)
    if all(r in fits for r in RECIPES):
        if not a.block:
            profiles(fits)
        NUMBERS.write_text(json.dumps(num, indent=1, default=float) + "\n")
        print(json.dumps(num, indent=1, default=float))


if __name__ == "__main__":
    main()
