"""Regenerate the figures in docs/figures/ and the generated tables in docs/model.md.

    python docs/make_figures.py            # figures, parameter and genotype tables (seconds)
    python docs/make_figures.py --measure  # also accuracy, float32 and solver tables (minutes)

Tables sit in docs/model.md between `<!-- begin:NAME -->` and `<!-- end:NAME -->`; the
script rewrites what is between the markers and leaves the prose alone, so no number is
typed by hand twice.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import alsjax  # noqa: E402
from alsjax._io import atomic_savefig, atomic_write_text  # noqa: E402
from alsjax._priors import MOUSE_RANGES, RANGES, prior  # noqa: E402

DOCS = Path(__file__).resolve().parent
MODEL_MD = DOCS / "model.md"
FIGURES = DOCS / "figures"
CASES = [(g, "human", 2500.0) for g in alsjax.GENOTYPES] + [("SOD1", "mouse", 150.0)]

# Where each default comes from. "guess" means chosen by hand (often to hit the calibration
# targets in docs/model.md), not measured; say so rather than pretend.
SOURCES = {
    "time_scale": "1 by definition (human); mouse: calibrated to Solomon 2011",
    "misfolding_rate": "guess (sets the age of onset)",
    "misfolding_delay": "C9orf72 (revision 10): set by hand to Benatar 2019's NfL lead of "
                        "about 3.5 years (1200 in 2026.12.10; 980 from 2026.12.11, with the "
                        "direct injury); SOD1 (2026.12.12): a century, never within a "
                        "course, as SOD1 ALS lacks the TDP-43 pathology it stands for "
                        "(Mackenzie 2007); other presets and versions: 0",
    "ros_misfolding_gain": "guess",
    "mutant_sod1": "human SOD1 fitted to Bali 2017's median survival from onset "
                   "(`sod1_survival`, 2026.12.12; 0.001, a guess, before); mouse fitted to "
                   "Solomon 2011 (`mouse_g93a`; legacy 0.0025 by hand)",
    "rbp_misfolding": "guess",
    "c9_repeat": "guess",
    "rna_stress": "guess",
    "clearance_rate": "guess",
    "aggregation_rate": "guess",
    "aggregate_seed": "guess",
    "aggregate_clearance": "guess",
    "aggregate_death_loss": "structural (revision 9): aggregates sit in neurons; with the "
                            "MUNIX course, the joint fit improves (docs/validation.md, item 9); "
                            "mouse and versions before 2026.12.8: 0",
    "dpr_clearance": "guess",
    "autophagy_capacity": "1 by definition; C9orf72 0.7 until 2026.12.10: guess "
                          "(haploinsufficiency); 1 from 2026.12.11, which NfL's level after "
                          "onset asks for (revision 11)",
    "proteostasis_recovery": "guess",
    "proteostasis_saturation": "guess",
    "ros_clearance": "guess",
    "mito_ros_gain": "guess",
    "aggregate_ros_gain": "guess",
    "glia_ros_gain": "guess",
    "mito_repair": "guess",
    "mito_ros_damage": "guess",
    "mito_aggregate_damage": "guess",
    "mito_calcium_damage": "guess (link: Le Masson 2014)",
    "eaat2_loss": "guess (EAAT2 loss: Rothstein 1995)",
    "microglia_glutamate": "guess",
    "calcium_buffer_loss": "guess (link: Le Masson 2014)",
    "apoptosis_activation": "guess",
    "apoptosis_resolution": "guess",
    "apoptosis_aggregate_gain": "guess",
    "dpr_toxicity": "guess; C9orf72 from 2026.12.10: 0.05, set by hand with "
                    "`misfolding_delay` (few neurons lost in the prodrome)",
    "apoptotic_death_rate": "fitted to two placebo arms' ALSFRS-R, survival from onset and "
                            "the MUNIX course (`human_pace_survival_munix`, 2026.12.8; "
                            "2026.12.5-7: `human_pace_survival`; before: 0.007 by hand)",
    "excitotoxic_death_rate": "guess",
    "oxidative_death_rate": "fitted: MCI186-19 edaravone arm (Al-Chalabi 2020), revision 8; "
                            "refitted under revision 9",
    "glia_toxicity": "calibrated by hand; mouse larger (Boillée 2006)",
    "umn_vulnerability": "guess; mouse value fitted to Zang 2002 (`mouse_g93a`; legacy 0.7)",
    "respiratory_vulnerability": "fitted to survival from onset (Testa 2004) with the placebo "
                                 "arms' pace and the MUNIX course "
                                 "(`human_pace_survival_munix`, 2026.12.8; before: 1)",
    "microglia_activation": "guess",
    "microglia_resolution": "guess",
    "astrocyte_activation": "guess",
    "astrocyte_resolution": "guess",
    "glia_clearance": "guess",
    "phenotype_switch_rate": "guess",
    "phenotype_reversion": "guess",
    "switch_threshold": "calibrated by hand (bistable loop: Burlando 2020)",
    "cytokine_release": "guess",
    "cytokine_clearance": "guess",
    "motor_reserve": "guess (reinnervation masks early loss); human value from the "
                     "`human_pace_survival_munix` fit, where it is not identified "
                     "(2026.12.5-7: `human_pace_survival`; before: 0.6)",
    "gradual_reinnervation": "structural (revision 9): MUNIX halves 14 months after onset, "
                             "ALSFRS-R 28 (Ebersbach 2023); mouse and versions before "
                             "2026.12.8: 0",
    "muscle_remodelling": "guess (atrophy over about a month)",
    "spasticity_weight": "guess",
    "nfl_baseline": "healthy serum NfL about 10 pg/mL (Barro 2020 review)",
    "nfl_release": "calibrated by hand: ALS / healthy 28.9 a year after onset (Gaiottino "
                   "2013) at the flattest course (revision 9; before: 2000, Benatar 2018)",
    "nfl_clearance": "guess: half-life 21 d, blood NfL decays over weeks (Barro 2020)",
    "dpr_injury": "C9orf72 in 2026.12.10 only (revision 10): set by hand with "
                  "`misfolding_delay` to Benatar 2019's NfL lead; 0 elsewhere",
    "dpr_axon_injury": "C9orf72 (revision 11): set by hand so that NfL's prodromal plateau "
                       "(4.4x healthy) clears both thresholds at which check 12 reads Benatar "
                       "2019's lead; 0 elsewhere and before 2026.12.11",
    "nfl_injury_release": "calibrated by hand to ALS / healthy about 29 (Gaiottino 2013) with "
                          "the flattest course over two years (Lu 2015; revision 9: 6, "
                          "before: 1); mouse 0 (not calibrated)",
    "onset_threshold": "guess: 4 % function lost before symptoms are noticed",
    "death_threshold": "guess: FVC about 25 % of predicted",
    "end_stage_threshold": "calibrated by hand to Solomon 2011 CS4",
    "riluzole_efficacy": "fitted to Bensimon 1994 12-month survival (revision 6: 0.150, "
                         "95 % 0.070-0.293); legacy and 2026.12: 0.03, by hand",
    "arm_event_spread": "guess (0.7: the model's own spread of survival over its plausible "
                        "ranges); Testa 2004's survival curve implies 0.72-0.77",
    "riluzole_limb_fraction": "structural (revision 6): no functional effect in Bensimon "
                              "1994 and Lacomblez 1996; legacy and 2026.12: 1",
    "edaravone_efficacy": "fitted (2026.12.9): MCI186-19 with Brooks 2022 and the natural "
                          "history; a guess before",
    "tofersen_efficacy": "about 35 % CSF SOD1 fall in Miller 2022; 0.6 is a guess",
    "anti_inflammatory_efficacy": "guess",
}


# --- generated tables -----------------------------------------------------------------


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- begin:{name} -->\n).*?(<!-- end:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"docs/model.md has no <!-- begin:{name} --> ... <!-- end:{name} -->")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def presets() -> dict[str, dict[str, float]]:
    out = {f"{g}": alsjax.physical(alsjax.default_params(g)) for g in alsjax.GENOTYPES}
    out["mouse"] = alsjax.physical(alsjax.default_params("SOD1", "mouse"))
    return {k: {n: float(v) for n, v in r.items()} for k, r in out.items()}


def parameter_table() -> str:
    values = presets()
    base = values["sporadic"]
    rows = []
    for info in alsjax.PARAMETERS:
        others = [f"{k}: {v[info.name]:.4g}" for k, v in values.items()
                  if k != "sporadic" and v[info.name] != base[info.name]]
        rows.append([f"`{info.name}`", info.unit, f"{base[info.name]:.4g}",
                     "; ".join(others) or "", info.doc, SOURCES[info.name]])
    return table(["name", "unit", "default (sporadic human)", "other presets", "meaning",
                  "source"], rows)


def genotype_table() -> str:
    values = presets()
    base = values["sporadic"]
    rows = []
    for name, v in values.items():
        changed = [f"`{k}` = {v[k]:.4g}" for k in alsjax.PARAMETER_NAMES if v[k] != base[k]]
        species = "mouse" if name == "mouse" else "human"
        p = alsjax.default_params("SOD1" if name == "mouse" else name, species)
        horizon = 200.0 if name == "mouse" else 3650.0
        sol = alsjax.simulate(p, jnp.linspace(0.0, horizon, 101))
        ev = {k: float(x) for k, x in sol.events.items()}
        months = (ev["death"] - ev["onset"]) / (365.25 / 12)
        course = (f"onset {ev['onset']:.0f} d, end stage {ev['end_stage']:.0f} d, "
                  f"death {ev['death']:.0f} d of age" if name == "mouse" else
                  f"onset {ev['onset']:.0f} d, death {ev['death']:.0f} d "
                  f"({months:.1f} months after onset)")
        rows.append([name if name != "mouse" else "mouse (SOD1-G93A)",
                     ", ".join(changed) or "reference", course])
    return table(["preset", "differs from sporadic human in", "default course"], rows)


def _range_row(name: str, genotype: str, species: str, label: str) -> list[str]:
    p = prior(genotype, species, population=False)  # the ranges as documented, about the preset
    info = next(i for i in alsjax.PARAMETERS if i.name == name)
    r = (MOUSE_RANGES if species == "mouse" and name in MOUSE_RANGES else RANGES)[name]
    kind = p.kinds[name]
    loc, scale = float(getattr(p.loc, name)), float(getattr(p.scale, name))
    median = float(alsjax.physical(p.median())[name])
    if kind == "fixed":
        form, spread, band = "fixed", "-", f"{median:.4g}"
    else:
        lo, hi = loc - 1.96 * scale, loc + 1.96 * scale
        if info.transform == "logit":
            form, spread = "logit-normal", f"SD(logit) {scale:.2g}"
            lo, hi = 1 / (1 + np.exp(-lo)), 1 / (1 + np.exp(-hi))
        else:
            form, spread = "log-normal", f"GSD {np.exp(scale):.3g}"
            lo, hi = np.exp(lo), np.exp(hi)
        band = f"{lo:.3g} - {hi:.3g}"
    return [f"`{name}`{label}", form, f"{median:.4g}", spread, band, r.source, r.why]


def prior_table() -> str:
    """The plausible range of every parameter (`alsjax._priors`), around the sporadic
    human preset; a genotype drive around the first genotype that has it; mouse overrides
    in their own rows."""
    rows = []
    for info in alsjax.PARAMETERS:
        genotype = next((g for g in alsjax.GENOTYPES if prior(g).kinds[info.name] != "fixed"),
                        "sporadic")
        rows.append(_range_row(info.name, genotype, "human",
                               "" if genotype == "sporadic" else f" ({genotype})"))
    for name in MOUSE_RANGES:
        rows.append(_range_row(name, "SOD1", "mouse", " (mouse)"))
    return table(["name", "form", "median", "spread", "95 % range", "source", "why"], rows)


# --- figures --------------------------------------------------------------------------


def figure_human() -> None:
    ts = np.linspace(0.0, 2500.0, 501)
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    axes = fig.subplots(2, 4, sharex=True).ravel()
    colors = dict(zip(alsjax.GENOTYPES, ["black", "tab:red", "tab:blue", "tab:green",
                                         "tab:purple"], strict=True))
    for g in alsjax.GENOTYPES:
        sol = alsjax.simulate(alsjax.default_params(g), ts)
        onset, death = float(sol.events["onset"]), float(sol.events["death"])
        alive = ts <= death
        for ax, name in zip(axes, alsjax.OBSERVABLE_NAMES, strict=False):
            v = np.asarray(sol.observables[name])
            ax.plot(ts[alive] / 365.25, v[alive], color=colors[g], label=g)
            ax.plot(ts[~alive] / 365.25, v[~alive], color=colors[g], alpha=0.25)
            for day, marker in ((onset, "o"), (death, "x")):
                ax.plot(day / 365.25, np.interp(day, ts, v), marker, color=colors[g], ms=5)
    for ax, name in zip(axes, alsjax.OBSERVABLE_NAMES, strict=False):
        ax.set_title(f"{name} ({alsjax.OBSERVABLE_UNITS[name]})", fontsize=9)
    axes[-1].axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].legend(handles, labels, loc="center",
                    title="genotype\n(o onset, x death;\nfaint: after death)")
    for ax in axes[3:]:
        ax.set_xlabel("years since the cascade's start")
    fig.suptitle("Default human presets, no therapy")
    atomic_savefig(fig, FIGURES / "trajectories_human.png", dpi=110)


def figure_prior_draws(n: int = 1000, shown: int = 60) -> None:
    """Prior predictive: courses of draws from `prior(genotype)` (the population prior),
    aligned on onset; survival against Testa 2004's curve, and the sporadic draws of the
    prior centred on the preset."""
    solve = jax.jit(alsjax.simulate_batch)
    months = np.linspace(0.0, 120.0, 121)
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    ax_score, ax_nfl, ax_surv = fig.subplots(1, 3)
    colors = dict(zip(alsjax.GENOTYPES, ["black", "tab:red", "tab:blue", "tab:green",
                                         "tab:purple"], strict=True))
    for g in alsjax.GENOTYPES:
        params = prior(g).sample(jax.random.key(0), n)
        sol = solve(params, jnp.linspace(0.0, 20 * 365.25, 201))
        onset, death = np.asarray(sol.events["onset"]), np.asarray(sol.events["death"])
        survival = np.sort(np.where(np.isfinite(death), death - onset, np.inf)) / (365.25 / 12)
        ax_surv.step(survival, np.arange(1, n + 1) / n, where="post", color=colors[g], label=g)
        if g != "sporadic":
            continue
        base = prior(g, population=False).sample(jax.random.key(0), n)
        events = solve(base, jnp.linspace(0.0, 20 * 365.25, 201)).events
        gap = np.asarray(events["death"]) - np.asarray(events["onset"])
        base_survival = np.sort(np.where(np.isfinite(gap), gap, np.inf)) / (365.25 / 12)
        ax_surv.step(base_survival, np.arange(1, n + 1) / n, where="post", color=colors[g],
                     ls="--", lw=1, label="sporadic, prior\ncentred on the preset")
        keep = np.flatnonzero(np.isfinite(onset))[:shown]
        ts = onset[keep, None] + months[None, :] * 365.25 / 12
        sub = solve(jax.tree.map(lambda a, keep=keep: a[keep], params), jnp.asarray(ts))
        alive = ts <= death[keep, None]
        for name, ax in (("alsfrs_r", ax_score), ("nfl", ax_nfl)):
            v = np.where(alive, np.asarray(sub.observables[name]), np.nan)
            ax.plot(months, v.T, color="tab:gray", lw=0.6, alpha=0.6)
        preset = alsjax.default_params("sporadic")
        one = alsjax.simulate(preset, jnp.linspace(0.0, 20 * 365.25, 201))
        t_on, t_death = float(one.events["onset"]), float(one.events["death"])
        ts1 = t_on + months * 365.25 / 12
        ref = alsjax.simulate(preset, jnp.asarray(ts1))
        for name, ax in (("alsfrs_r", ax_score), ("nfl", ax_nfl)):
            ax.plot(months[ts1 <= t_death], np.asarray(ref.observables[name])[ts1 <= t_death],
                    color="black", lw=2, label="preset")
    ax_score.set(title=f"ALSFRS-R, {shown} sporadic draws", xlabel="months since onset",
                 ylabel="points", xlim=(0, 120))
    ax_nfl.set(title="serum NfL, same draws", xlabel="months since onset", ylabel="pg/mL",
               yscale="log", xlim=(0, 120))
    ax_surv.set(title=f"survival from onset, {n} draws each", xlabel="months",
                ylabel="fraction dead", xlim=(0, 120), ylim=(0, 1))
    testa = pd.read_csv(DOCS.parent / "data/published/testa2004_survival_from_onset.csv")
    dead, cohort = testa["value"].to_numpy(), testa["n"].to_numpy()
    half = 1.96 * np.sqrt(dead * (1 - dead) / cohort)
    ax_surv.errorbar(testa["time"] / (365.25 / 12), dead, yerr=half, fmt="o", color="orange",
                     ms=4, capsize=3, label="Testa 2004 (793, 95 %)")
    ax_score.legend(loc="upper right")
    ax_surv.legend(loc="lower right", fontsize=8)
    fig.suptitle("Draws from the plausible ranges (alsjax._priors.prior, the population "
                 "prior), no therapy")
    atomic_savefig(fig, FIGURES / "prior_draws.png", dpi=110)


def figure_mouse() -> None:
    ts = np.linspace(0.0, 160.0, 321)
    p = alsjax.default_params("SOD1", "mouse")
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    axes = fig.subplots(2, 4, sharex=True).ravel()
    arms = {"untreated": alsjax.make_therapy(), "tofersen from day 50": alsjax.make_therapy(
        tofersen=50.0)}
    styles = {"onset": ("tab:orange", "--"), "end_stage": ("tab:red", ":"),
              "death": ("black", "-")}
    for (label, therapy), color in zip(arms.items(), ["tab:blue", "tab:green"], strict=True):
        sol = alsjax.simulate(p, ts, therapy)
        for ax, name in zip(axes, alsjax.OBSERVABLE_NAMES, strict=False):
            ax.plot(ts, np.asarray(sol.observables[name]), color=color, label=label)
            if label == "untreated":
                for event, (c, ls) in styles.items():
                    ax.axvline(float(sol.events[event]), color=c, ls=ls, lw=1, label=event)
    for ax, name in zip(axes, alsjax.OBSERVABLE_NAMES, strict=False):
        ax.set_title(f"{name} ({alsjax.OBSERVABLE_UNITS[name]})", fontsize=9)
    axes[-1].axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].legend(handles, labels, loc="center", title="SOD1-G93A mouse")
    for ax in axes[3:]:
        ax.set_xlabel("day of age")
    fig.suptitle("SOD1-G93A mouse preset (events of the untreated mouse as lines)")
    atomic_savefig(fig, FIGURES / "mouse.png", dpi=110)


# --- measurements ---------------------------------------------------------------------

_, _unravel = ravel_pytree((alsjax.default_params(), alsjax.make_therapy()))
_field = jax.jit(lambda t, y, flat: alsjax.vector_field(t, y, *_unravel(flat)))
_jac = jax.jit(jax.jacfwd(lambda t, y, flat: alsjax.vector_field(t, y, *_unravel(flat)), 1))


def radau(p, ts):
    """scipy Radau at rtol 1e-10, atol 1e-12 on the same vector field (no therapy)."""
    flat = ravel_pytree((p, alsjax.make_therapy()))[0]
    sol = solve_ivp(lambda t, y: np.asarray(_field(t, y, flat)), (0.0, ts[-1]),
                    np.asarray(alsjax.initial_state(p)), method="Radau", t_eval=ts,
                    rtol=1e-10, atol=1e-12, jac=lambda t, y: np.asarray(_jac(t, y, flat)))
    return sol.y.T


def scaled_error(ys, ref) -> float:
    scale = np.abs(ref).max(0)
    return float(np.max(np.abs(np.asarray(ys) - ref) / np.where(scale > 0, scale, 1.0)))


def _timed(fn, *args, reps=20):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return float(np.median(times))


_F32 = """
import json, sys, jax, jax.numpy as jnp, numpy as np, alsjax
out = {}
for g, s, t1 in json.loads(sys.argv[1]):
    sol = alsjax.simulate(alsjax.default_params(g, s), jnp.linspace(0.0, t1, 101))
    out[g + "/" + s] = dict(dtype=str(sol.ys.dtype), ys=np.asarray(sol.ys, float).tolist(),
                            events={k: float(v) for k, v in sol.events.items()})
print(json.dumps(out))
"""


def measure() -> dict[str, str]:
    refs = {(g, s): radau(alsjax.default_params(g, s), np.linspace(0.0, t1, 101))
            for g, s, t1 in CASES}

    # accuracy of the default solver at default and tight tolerances
    run = jax.jit(alsjax.simulate, static_argnames=("rtol", "atol", "max_steps"))
    rows = []
    for g, s, t1 in CASES:
        p, ts = alsjax.default_params(g, s), jnp.linspace(0.0, t1, 101)
        d = run(p, ts)
        t = run(p, ts, rtol=1e-10, atol=1e-12, max_steps=16384)
        dev = max(abs(float(d.events[e] - t.events[e])) for e in alsjax.EVENT_NAMES)
        rows.append([f"{g} / {s}", f"{scaled_error(d.ys, refs[g, s]):.1e}",
                     str(int(d.num_steps)), f"{scaled_error(t.ys, refs[g, s]):.1e}",
                     str(int(t.num_steps)), f"{dev:.3f}"])
    accuracy = table(["preset", "error, default tol", "steps", "error, rtol 1e-10",
                      "steps", "max event-day change, default vs tight"], rows)

    # float32: a fresh interpreter that never enables x64
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-c", _F32, json.dumps(CASES)], check=True,
                         capture_output=True, text=True, env=env).stdout
    f32 = json.loads(out.strip().splitlines()[-1])
    rows = []
    for g, s, t1 in CASES:
        r = f32[f"{g}/{s}"]
        d = run(alsjax.default_params(g, s), jnp.linspace(0.0, t1, 101))
        dev = max(abs(r["events"][e] - float(d.events[e])) for e in alsjax.EVENT_NAMES)
        rows.append([f"{g} / {s}", r["dtype"], f"{scaled_error(r['ys'], refs[g, s]):.1e}",
                     f"{scaled_error(d.ys, refs[g, s]):.1e}", f"{dev:.3f}"])
    float32 = table(["preset", "dtype", "error, float32", "error, float64",
                     "max event-day change vs float64"], rows)

    # solvers at the default tolerances
    solvers = {"Tsit5": diffrax.Tsit5(), "Dopri5": diffrax.Dopri5(),
               "Bosh3": diffrax.Bosh3(), "Kvaerno5": diffrax.Kvaerno5()}
    grad_ts = jnp.linspace(0.0, 2500.0, 26)
    rows = []
    for name, solver in solvers.items():
        fwd = jax.jit(lambda p, ts, solver=solver: alsjax.simulate(p, ts, solver=solver,
                                                                   max_steps=16384))

        def loss(p, solver=solver):
            o = alsjax.simulate(p, grad_ts, solver=solver, max_steps=16384).observables
            return jnp.sum(o["alsfrs_r"]) + jnp.sum(jnp.log(o["nfl"]))

        grad = jax.jit(jax.grad(loss))
        steps, errs, walls = [], [], []
        for g, s, t1 in CASES:
            p, ts = alsjax.default_params(g, s), jnp.linspace(0.0, t1, 101)
            sol = fwd(p, ts)
            steps.append(int(sol.num_steps))
            errs.append(scaled_error(sol.ys, refs[g, s]))
            walls.append(_timed(fwd, p, ts))
        t = time.perf_counter()
        jax.block_until_ready(grad(alsjax.default_params()))
        compile_grad = time.perf_counter() - t
        wall_grad = _timed(grad, alsjax.default_params(), reps=5)
        rows.append([name, f"{np.mean(steps):.0f} ({min(steps)}-{max(steps)})",
                     f"{max(errs):.1e}", f"{1e3 * np.mean(walls):.1f}",
                     f"{1e3 * wall_grad:.0f}", f"{compile_grad:.0f}"])
        print(name, rows[-1], flush=True)
    solver_table = table(["solver", "steps, mean (range)", "max error vs Radau",
                          "ms per solve", "ms per grad", "s to compile grad"], rows)
    return {"accuracy": accuracy, "float32": float32, "solvers": solver_table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true",
                        help="also measure accuracy, float32 and solvers (minutes)")
    args = parser.parse_args()
    FIGURES.mkdir(exist_ok=True)
    figure_human()
    figure_mouse()
    figure_prior_draws()
    blocks = {"parameters": parameter_table(), "genotypes": genotype_table(),
              "priors": prior_table()}
    if args.measure:
        blocks.update(measure())
        blocks["machine"] = (f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU "
                             f"cores, jax {jax.__version__}, diffrax {diffrax.__version__}, "
                             "float64 unless stated.\n")
    text = MODEL_MD.read_text()
    for name, body in blocks.items():
        text = replace_block(text, name, body)
    atomic_write_text(MODEL_MD, text)
    print(f"wrote {MODEL_MD} ({', '.join(blocks)}) and {FIGURES}/*.png")


if __name__ == "__main__":
    main()
