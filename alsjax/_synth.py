"""Synthetic datasets with known ground truth: for recovery tests, examples and the default fit.

Each generator draws everything from one `numpy.random.default_rng(seed)` and solves all
subjects in one `jax.vmap`-ed, jitted batch, so the same seed gives the same numbers, and
`write_synthetic` writes them in a fixed float format, so the same seed gives the same
bytes. Noise is unrounded, and every measurement is then clipped to its observable's
physical range (`OBSERVABLE_RANGES`): a rater cannot record 49 of 48, so neither does a
generator, and its files pass `read_measurements`. Near the ends of a scale the noise is
therefore censored (a value at 48 stands for "48 or more"); elsewhere it is exactly the
stated model.

- `human_cohort`: mixed genotypes, times from each subject's symptom onset, per-subject
  parameters drawn log-normally around the preset, half on riluzole from onset, deaths.
- `mouse_sod1`: SOD1-G93A mice, days of age 50-140: grip strength, NfL, LMN histology on
  terminal animals, end-stage events.
- `small_human`: four sporadic subjects sharing the preset, times from the cascade start.
- `population`: a trial-like cohort for per-subject and population (mixed-effects) fits:
  correlated log-normal random effects on two parameters, a covariate effect (site of
  onset), genotypes and randomised riluzole, visits every ~3 months from enrolment,
  dropout and death censoring; each subject's parameters and random effects in the truth.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._cohort import solve_cohort
from ._data import write_measurements
from ._dataset import ONSET_HORIZON
from ._errors import ALSJaxError
from ._io import atomic_write_text, json_float, versions
from ._model import default_params
from ._noise import apply_noise
from ._observables import EVENT_NAMES, OBSERVABLE_NAMES, OBSERVABLE_RANGES
from ._params import PARAMETER_NAMES, Params, physical
from ._presets import GENOTYPES, LATEST_PRESET, check_preset_version
from ._priors import prior
from ._simulate import FAILURE_REASONS
from ._therapy import format_therapy, stack_therapies

DATASETS: tuple[str, ...] = ("human_cohort", "mouse_sod1", "small_human", "population",
                             "prior_cohort")

VARIED: tuple[str, ...] = ("aggregation_rate", "apoptotic_death_rate", "nfl_release")
"""Parameters that differ between subjects in `human_cohort` (log-normal around the preset)."""

HUMAN_NOISE: dict[str, dict[str, Any]] = {
    "alsfrs_r": {"model": "additive", "sd": 1.5,
                 "doc": "value = clip(model + N(0, sd^2), 0, 48) points; unrounded"},
    "nfl": {"model": "lognormal", "sd_log": 0.15,
            "doc": "value = model * exp(N(0, sd_log^2)), about 15% CV"},
}
MOUSE_NOISE: dict[str, dict[str, Any]] = {
    "grip_strength": {"model": "additive", "sd": 5.0,
                      "doc": "value = clip(model + N(0, sd^2), 0, 200) % of healthy"},
    "nfl": {"model": "lognormal", "sd_log": 0.2,
            "doc": "value = model * exp(N(0, sd_log^2)), about 20% CV"},
    "lmn": {"model": "additive", "sd": 0.03,
            "doc": "value = clip(model + N(0, sd^2), 0, 1) surviving fraction "
                   "(histology)"},
}


@dataclasses.dataclass(frozen=True)
class Synthetic:
    """A generated dataset: the tidy measurement frame and its ground truth (JSON-able)."""

    name: str
    data: pd.DataFrame
    truth: dict[str, Any]
    subjects: pd.DataFrame | None = None
    """Each subject's true parameters, where they all differ (`prior_cohort`)."""


def _noisy(spec: dict[str, Any], f: float, z: float) -> float:
    """One measurement drawn from its noise spec (`HUMAN_NOISE`, `MOUSE_NOISE`)."""
    return float(apply_noise(f, z, spec["model"], spec.get("sd", spec.get("sd_log"))))


# The plain vmap (not "auto"): the shipped files stay byte for byte what this solver
# gives, whatever the number of subjects.
_solve_batch = jax.jit(functools.partial(solve_cohort, method="vmap"))


def _solve(params: list[Params] | Params, ts: np.ndarray, starts: list[dict[str, float]],
           what: str):
    """Every subject's observables and events (dicts of arrays keyed by name), or a one-line
    `ALSJaxError` naming the first subject whose solve failed. `params`: one set per
    subject, or one batched set."""
    stacked = (params if isinstance(params, Params)
               else jax.tree.map(lambda *xs: jnp.stack(xs), *params))
    sol = _solve_batch(stacked, jnp.asarray(ts, float), stack_therapies(starts))
    if not bool(np.all(np.asarray(sol.success))):
        i = int(np.flatnonzero(~np.asarray(sol.success))[0])
        raise ALSJaxError(f"{what}: the solve failed for subject {i + 1} "
                          f"({FAILURE_REASONS[int(sol.status[i])]}); try another seed")
    obs, events = np.asarray(sol.observables), np.asarray(sol.events)
    return ({k: obs[..., j] for j, k in enumerate(OBSERVABLE_NAMES)},
            {k: events[:, j] for j, k in enumerate(EVENT_NAMES)})


def _shared_truth(subject_params: list[Params]) -> dict[str, float]:
    """Parameters equal in every subject (the truth a fixed-effects fit can recover)."""
    phys = [physical(p) for p in subject_params]
    return _shared_truth_values({k: np.array([float(d[k]) for d in phys])
                                 for k in PARAMETER_NAMES})


def _shared_truth_values(values: dict[str, np.ndarray]) -> dict[str, float]:
    """`_shared_truth` of each parameter's per-subject values."""
    return {k: json_float(v[0]) for k, v in values.items() if np.all(v == v[0])}


def _rows(rows: list[tuple], genotype: list[str], species: str, therapy: list[str],
          extra: dict[str, list] | None = None) -> pd.DataFrame:
    """The tidy frame of `(i, subject, time, observable, value)` rows, each measurement
    clipped to its observable's physical range (a noisy score stays on its scale)."""
    df = pd.DataFrame(rows, columns=["i", "subject", "time", "observable", "value"])
    for k, r in OBSERVABLE_RANGES.items():
        m = df["observable"] == k
        df.loc[m, "value"] = df.loc[m, "value"].clip(r.low, r.high)
    df["genotype"] = [genotype[i] for i in df["i"]]
    df["species"] = species
    df["therapy"] = [therapy[i] for i in df["i"]]
    for name, per_subject in (extra or {}).items():
        df[name] = [per_subject[i] for i in df["i"]]
    return df.drop(columns="i")


def human_cohort(n_subjects: int = 40, *, seed: int = 0, between_sd: float = 0.25,
                 riluzole_fraction: float = 0.5,
                 preset_version: str = LATEST_PRESET) -> Synthetic:
    """A mixed-genotype cohort observed from symptom onset for 18 months.

    Genotypes: 70% sporadic, 15% SOD1, 15% C9orf72 (counts rounded, order shuffled).
    Subject i's `VARIED` parameters are `preset * exp(between_sd * z_i)`, z standard
    normal. Time 0 is the subject's model onset (the `onset` event, day `onset_day` of
    the cascade, in the truth); ALSFRS-R at visits 90 k + U{0..14} days (k = 0..6) and NfL
    at every other visit; a death row, 1 at the death day if within follow-up, else 0
    at the last visit; rows after death are dropped. Riluzole, where given, starts at onset
    (therapy "riluzole:0" on the data's clock). `sex` is a covariate with no effect.
    """
    if n_subjects < 1:
        raise ALSJaxError(f"human_cohort: need at least 1 subject, got {n_subjects}")
    rng = np.random.default_rng(seed)
    n_sod1, n_c9 = round(0.15 * n_subjects), round(0.15 * n_subjects)
    genotypes = ["SOD1"] * n_sod1 + ["C9orf72"] * n_c9
    genotypes = list(rng.permutation(["sporadic"] * (n_subjects - len(genotypes)) + genotypes))
    z = rng.standard_normal((n_subjects, len(VARIED)))
    riluzole = rng.random(n_subjects) < riluzole_fraction
    sex = list(rng.choice(["F", "M"], n_subjects))
    n_visits = 7
    visits = 90.0 * np.arange(n_visits) + rng.integers(0, 15, (n_subjects, n_visits))
    noise_a = rng.standard_normal((n_subjects, n_visits))
    noise_n = rng.standard_normal((n_subjects, n_visits))

    presets = {g: physical(default_params(g, preset_version=preset_version))
               for g in set(genotypes)}
    values = [{k: float(presets[g][k]) * math.exp(between_sd * z[i, j])
               for j, k in enumerate(VARIED)} for i, g in enumerate(genotypes)]
    params = [default_params(g, preset_version=preset_version).replace(**v)
              for g, v in zip(genotypes, values, strict=True)]

    # First solve: onsets, on a long horizon (therapy starts at onset, so it cannot move it).
    horizon = np.broadcast_to(np.linspace(0.0, 10_000.0, n_visits), visits.shape)
    _, events0 = _solve(params, horizon, [{}] * n_subjects, "human_cohort")
    onset = events0["onset"]
    if not np.all(np.isfinite(onset)):
        raise ALSJaxError("human_cohort: a subject had no onset within 10000 days; "
                          "lower between_sd or change the seed")
    starts = [{"riluzole": float(onset[i])} if riluzole[i] else {} for i in range(n_subjects)]
    obs, events = _solve(params, onset[:, None] + visits, starts, "human_cohort")

    ids = [f"H{i + 1:03d}" for i in range(n_subjects)]
    rows, subjects = [], []
    for i in range(n_subjects):
        death = events["death"][i] - onset[i]
        for k in range(n_visits):
            t = visits[i, k]
            if t > death:
                break
            rows.append((i, ids[i], t, "alsfrs_r", _noisy(
                HUMAN_NOISE["alsfrs_r"], obs["alsfrs_r"][i, k], noise_a[i, k])))
            if k % 2 == 0:
                rows.append((i, ids[i], t, "nfl", _noisy(
                    HUMAN_NOISE["nfl"], obs["nfl"][i, k], noise_n[i, k])))
        died = bool(np.isfinite(death))
        rows.append((i, ids[i], death if died else visits[i, -1], "death", 1.0 if died else 0.0))
        subjects.append({
            "subject": ids[i], "genotype": genotypes[i],
            "onset_day": json_float(onset[i]),
            "death_day": json_float(events["death"][i]) if died else None,
            "therapy": format_therapy(starts[i]),
            "parameters": {k: json_float(values[i][k]) for k in VARIED},
        })
    therapy = ["riluzole:0" if r else "" for r in riluzole]
    data = _rows(rows, genotypes, "human", therapy, {"sex": sex})
    truth = {
        "generator": "alsjax.synth human_cohort", "seed": seed,
        "preset_version": preset_version, "n_subjects": n_subjects,
        "time_origin": "each subject's symptom onset (the model's onset event)",
        "genotype_mix": {g: genotypes.count(g) for g in ("sporadic", "SOD1", "C9orf72")},
        "varied": {k: {"population": {g: json_float(presets[g][k]) for g in sorted(presets)},
                       "sd_log": between_sd} for k in VARIED},
        "parameters": _shared_truth(params),
        "therapy": "riluzole from onset in subjects whose therapy is 'riluzole:0' "
                   "(data clock); on the cascade clock it starts at onset_day",
        "noise": HUMAN_NOISE, "subjects": subjects, "versions": versions(("alsjax", "jax")),
    }
    return Synthetic("human_cohort", data, truth)


def mouse_sod1(n_mice: int = 12, *, seed: int = 0, between_sd: float = 0.0,
               preset_version: str = LATEST_PRESET) -> Synthetic:
    """SOD1-G93A mice, days of age 50-140.

    Grip strength weekly (days 50 + 7 k, and 140), NfL every other week; the first
    `n_mice // 3` mice are terminal animals, killed at days 64, 85, 106, 120 (cycling)
    for LMN histology. Observation stops at end stage (humane end point): an end_stage
    row is 1 at the end-stage day if it comes first, else 0 at the last observed day.
    `between_sd` = 0 (default) gives every mouse the preset (an inbred line: the spread
    in the data is measurement noise only); > 0 varies `VARIED` as in `human_cohort`.
    """
    if n_mice < 1:
        raise ALSJaxError(f"mouse_sod1: need at least 1 mouse, got {n_mice}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_mice, len(VARIED)))
    grid = np.concatenate([50.0 + 7.0 * np.arange(13), [140.0]])
    noise = {k: rng.standard_normal((n_mice, grid.size)) for k in MOUSE_NOISE}
    preset = physical(default_params("SOD1", "mouse", preset_version=preset_version))
    values = [{k: float(preset[k]) * math.exp(between_sd * z[i, j])
               for j, k in enumerate(VARIED)} for i in range(n_mice)]
    params = [default_params("SOD1", "mouse", preset_version=preset_version).replace(**v)
              for v in values]
    obs, events = _solve(params, np.broadcast_to(grid, (n_mice, grid.size)),
                         [{}] * n_mice, "mouse_sod1")

    sacrifice = [64.0, 85.0, 106.0, 120.0]
    ids = [f"M{i + 1:02d}" for i in range(n_mice)]
    rows, subjects = [], []
    for i in range(n_mice):
        killed = sacrifice[i % 4] if i < n_mice // 3 else math.inf
        end = events["end_stage"][i]
        last = min(killed, grid[-1])
        for k, t in enumerate(grid):
            if t > min(end, last):
                break
            rows.append((i, ids[i], t, "grip_strength", _noisy(MOUSE_NOISE["grip_strength"],
                         obs["grip_strength"][i, k], noise["grip_strength"][i, k])))
            if k % 2 == 0 or t == killed:
                rows.append((i, ids[i], t, "nfl", _noisy(MOUSE_NOISE["nfl"], obs["nfl"][i, k],
                                                         noise["nfl"][i, k])))
            if t == killed:
                rows.append((i, ids[i], t, "lmn", _noisy(MOUSE_NOISE["lmn"], obs["lmn"][i, k],
                                                         noise["lmn"][i, k])))
        reached = bool(end <= last)
        rows.append((i, ids[i], end if reached else last, "end_stage", float(reached)))
        subjects.append({
            "subject": ids[i],
            "terminal_day": json_float(killed) if math.isfinite(killed) else None,
            "end_stage_day": json_float(end) if math.isfinite(end) else None,
            "parameters": {k: json_float(values[i][k]) for k in VARIED},
        })
    data = _rows(rows, ["SOD1"] * n_mice, "mouse", [""] * n_mice)
    truth = {
        "generator": "alsjax.synth mouse_sod1", "seed": seed,
        "preset_version": preset_version, "n_subjects": n_mice,
        "time_origin": "birth (days of age)", "genotype_mix": {"SOD1": n_mice},
        "varied": {k: {"population": {"SOD1": json_float(preset[k])}, "sd_log": between_sd}
                   for k in VARIED} if between_sd > 0 else {},
        "parameters": _shared_truth(params),
        "noise": MOUSE_NOISE, "subjects": subjects, "versions": versions(("alsjax", "jax")),
    }
    return Synthetic("mouse_sod1", data, truth)


def small_human(n_subjects: int = 4, *, seed: int = 0,
                preset_version: str = LATEST_PRESET) -> Synthetic:
    """A few sporadic subjects sharing the preset, times from the cascade start.

    Subject i is seen from day 600 + 150 i: ALSFRS-R every 60 days (10 visits) and NfL
    every 120 days, with the `HUMAN_NOISE` model. No therapy, no events: the fast
    recovery problem and the default fit's data.
    """
    if n_subjects < 1:
        raise ALSJaxError(f"small_human: need at least 1 subject, got {n_subjects}")
    rng = np.random.default_rng(seed)
    n_visits = 10
    visits = 600.0 + 150.0 * np.arange(n_subjects)[:, None] + 60.0 * np.arange(n_visits)
    noise_a = rng.standard_normal(visits.shape)
    noise_n = rng.standard_normal(visits.shape)
    params = [default_params("sporadic", preset_version=preset_version)] * n_subjects
    obs, _ = _solve(params, visits, [{}] * n_subjects, "small_human")
    ids = [f"S{i + 1}" for i in range(n_subjects)]
    rows = []
    for i in range(n_subjects):
        for k in range(n_visits):
            t = visits[i, k]
            rows.append((i, ids[i], t, "alsfrs_r", _noisy(
                HUMAN_NOISE["alsfrs_r"], obs["alsfrs_r"][i, k], noise_a[i, k])))
            if k % 2 == 0:
                rows.append((i, ids[i], t, "nfl", _noisy(
                    HUMAN_NOISE["nfl"], obs["nfl"][i, k], noise_n[i, k])))
    data = _rows(rows, ["sporadic"] * n_subjects, "human", [""] * n_subjects)
    truth = {
        "generator": "alsjax.synth small_human", "seed": seed,
        "preset_version": preset_version, "n_subjects": n_subjects,
        "time_origin": "cascade start (t = 0 of the model)",
        "genotype_mix": {"sporadic": n_subjects}, "varied": {},
        "parameters": _shared_truth(params),
        "noise": {k: HUMAN_NOISE[k] for k in ("alsfrs_r", "nfl")},
        "subjects": [{"subject": s} for s in ids], "versions": versions(("alsjax", "jax")),
    }
    return Synthetic("small_human", data, truth)


POPULATION_EFFECTS: tuple[str, ...] = ("apoptotic_death_rate", "nfl_release")
"""Parameters with a random effect in `population` (log scale)."""


def population(n_subjects: int = 200, *, seed: int = 0,
               sd_log: Sequence[float] = (0.3, 0.4), correlation: float = 0.5,
               bulbar_effect: float = math.log(1.3), bulbar_fraction: float = 0.3,
               genotype_mix: tuple[float, float] = (0.1, 0.1), dropout: float = 0.03,
               effects: Sequence[str] = POPULATION_EFFECTS,
               preset_version: str = LATEST_PRESET) -> Synthetic:
    """A trial-like cohort for per-subject and mixed-effects fits, on the cascade clock.

    **Random effects.** Subject i's stored (log) values of `effects` (default
    `POPULATION_EFFECTS`; log-stored parameters, one SD in `sd_log` each) are
    log(population) + beta x bulbar_i + eta_i, with eta_i ~ N(0, Omega), Omega from the SDs
    `sd_log` and the `correlation` (the same between every pair); the population values
    are the presets (the same for every genotype: the genotypes change other
    parameters). **Covariate:** bulbar onset
    (a fraction `bulbar_fraction` of subjects; spinal otherwise) multiplies
    apoptotic_death_rate by exp(`bulbar_effect`) (1.3 by default).

    **Design.** Genotypes SOD1 and C9orf72 in the fractions `genotype_mix`, sporadic
    otherwise. Enrolment at the model's onset plus a diagnostic delay of U(180, 540)
    days; randomised 1:1 to riluzole from enrolment or none. ALSFRS-R at enrolment and
    every 90 days (+- U{0..14}) for 540 or 720 days (18 or 24 months, half each); NfL at
    every other visit (every ~6 months). After each visit a subject drops out with
    probability `dropout`; rows after death or dropout are absent. A death row is 1 at the
    death day when it comes before the end of follow-up, else 0 at the last visit.
    Times are days on the model's clock (t = 0 at the cascade's start), so fits use
    `align = "cascade"`.
    """
    if n_subjects < 1:
        raise ALSJaxError(f"population: need at least 1 subject, got {n_subjects}")
    effects = tuple(effects)
    if len(sd_log) != len(effects) or "apoptotic_death_rate" not in effects:
        raise ALSJaxError("population: one sd_log per effect, and apoptotic_death_rate "
                          "(the bulbar effect's target) among the effects")
    rng = np.random.default_rng(seed)
    n_sod1 = round(genotype_mix[0] * n_subjects)
    n_c9 = round(genotype_mix[1] * n_subjects)
    genotypes = ["SOD1"] * n_sod1 + ["C9orf72"] * n_c9
    genotypes = list(rng.permutation(["sporadic"] * (n_subjects - len(genotypes)) + genotypes))
    sd = np.asarray(sd_log, float)
    R = len(effects)
    corr = np.full((R, R), float(correlation))
    np.fill_diagonal(corr, 1.0)
    omega = corr * np.outer(sd, sd)
    eta = rng.standard_normal((n_subjects, R)) @ np.linalg.cholesky(omega).T
    bulbar = rng.random(n_subjects) < bulbar_fraction
    riluzole = rng.random(n_subjects) < 0.5
    delay = rng.uniform(180.0, 540.0, n_subjects)
    months = np.where(rng.random(n_subjects) < 0.5, 18, 24)
    n_visits = 9
    jitter = rng.integers(0, 15, (n_subjects, n_visits)).astype(float)
    jitter[:, 0] = 0.0
    visits = 90.0 * np.arange(n_visits) + jitter
    drop = rng.random((n_subjects, n_visits)) < dropout
    noise_a = rng.standard_normal((n_subjects, n_visits))
    noise_n = rng.standard_normal((n_subjects, n_visits))

    presets = {g: physical(default_params(g, preset_version=preset_version))
               for g in set(genotypes)}
    pop = {k: float(physical(default_params("sporadic", preset_version=preset_version))[k])
           for k in effects}
    beta = {k: bulbar_effect if k == "apoptotic_death_rate" else 0.0 for k in effects}
    log_values = np.stack([np.log(pop[k]) + beta[k] * bulbar + eta[:, j]
                           for j, k in enumerate(effects)], axis=1)
    values = [{k: float(np.exp(log_values[i, j])) for j, k in enumerate(effects)}
              for i in range(n_subjects)]
    params = [default_params(g, preset_version=preset_version).replace(**v)
              for g, v in zip(genotypes, values, strict=True)]

    horizon = np.broadcast_to(np.linspace(0.0, 10_000.0, n_visits), visits.shape)
    _, events0 = _solve(params, horizon, [{}] * n_subjects, "population")
    onset = events0["onset"]
    if not np.all(np.isfinite(onset)):
        raise ALSJaxError("population: a subject had no onset within 10000 days; "
                          "lower sd_log or change the seed")
    # Enrolled alive: the delay is at most half the time from onset to death untreated.
    room = np.where(np.isfinite(events0["death"]), 0.5 * (events0["death"] - onset), np.inf)
    enrol = np.round(onset + np.minimum(delay, room))
    starts = [{"riluzole": float(enrol[i])} if riluzole[i] else {} for i in range(n_subjects)]
    obs, events = _solve(params, enrol[:, None] + visits, starts, "population")

    ids = [f"P{i + 1:03d}" for i in range(n_subjects)]
    rows, subjects = [], []
    for i in range(n_subjects):
        death, limit = events["death"][i], 30.0 * months[i] + 14.0
        scheduled = int(np.sum(visits[i] <= limit))
        seen, dropped = [], False
        for k in range(scheduled):
            t = enrol[i] + visits[i, k]
            if t > death:
                break
            seen.append(t)
            rows.append((i, ids[i], t, "alsfrs_r", _noisy(
                HUMAN_NOISE["alsfrs_r"], obs["alsfrs_r"][i, k], noise_a[i, k])))
            if k % 2 == 0:
                rows.append((i, ids[i], t, "nfl", _noisy(
                    HUMAN_NOISE["nfl"], obs["nfl"][i, k], noise_n[i, k])))
            if drop[i, k] and k + 1 < scheduled:
                dropped = True
                break
        end = seen[-1] if dropped else enrol[i] + limit
        died = bool(death <= end)
        rows.append((i, ids[i], death if died else seen[-1], "death", 1.0 if died else 0.0))
        subjects.append({
            "subject": ids[i], "genotype": genotypes[i],
            "site_of_onset": "bulbar" if bulbar[i] else "spinal",
            "therapy": format_therapy(starts[i]), "onset_day": json_float(onset[i]),
            "enrolment_day": json_float(enrol[i]), "follow_up_months": int(months[i]),
            "visits": len(seen), "dropped_out": dropped,
            "death_day": json_float(death) if died else None,
            "random_effects": {k: json_float(eta[i, j])
                               for j, k in enumerate(effects)},
            "parameters": {k: json_float(values[i][k]) for k in effects},
        })
    therapy = [format_therapy(s) for s in starts]
    site = ["bulbar" if b else "spinal" for b in bulbar]
    data = _rows(rows, genotypes, "human", therapy, {"site_of_onset": site})
    truth = {
        "generator": "alsjax.synth population", "seed": seed,
        "preset_version": preset_version, "n_subjects": n_subjects,
        "time_origin": "cascade start (t = 0 of the model); enrolment at the model's onset "
                       "plus a diagnostic delay",
        "genotype_mix": {g: genotypes.count(g) for g in ("sporadic", "SOD1", "C9orf72")},
        "varied": {k: {"population": {g: json_float(pop[k]) for g in sorted(presets)},
                       "sd_log": json_float(sd[j])}
                   for j, k in enumerate(effects)},
        "random_effects": {
            "scale": "log (the parameters' stored scale)",
            "parameters": list(effects),
            "sd_log": {k: json_float(sd[j]) for j, k in enumerate(effects)},
            "correlation": json_float(correlation),
            "covariance": [[json_float(v) for v in row] for row in omega],
        },
        "covariates": {"site_of_onset": {
            "parameter": "apoptotic_death_rate", "reference": "spinal", "level": "bulbar",
            "effect_log": json_float(bulbar_effect),
            "factor": json_float(math.exp(bulbar_effect)),
            "n_bulbar": int(bulbar.sum())}},
        "design": {"diagnostic_delay_days": [180.0, 540.0], "visit_days": 90.0,
                   "nfl_every_visits": 2, "follow_up_months": [18, 24],
                   "dropout_per_visit": dropout,
                   "riluzole": "randomised 1:1, from enrolment (therapy column, data clock)"},
        "parameters": _shared_truth(params),
        "noise": {k: HUMAN_NOISE[k] for k in ("alsfrs_r", "nfl")},
        "subjects": subjects, "versions": versions(("alsjax", "jax")),
    }
    return Synthetic("population", data, truth)


PRIOR_COHORT_MIX: dict[str, float] = {"C9orf72": 0.05, "SOD1": 0.03, "TARDBP": 0.01, "FUS": 0.01}
"""`prior_cohort`'s share of each genotype with a mutation (sporadic: the rest). A guess: the
project's source text says about 10 % of cases are familial; the split, C9orf72 the most
common and SOD1 next, is not fitted to any registry."""

PRIOR_COHORT_NOISE: dict[str, dict[str, Any]] = {
    **{k: HUMAN_NOISE[k] for k in ("alsfrs_r", "nfl")},
    "fvc": {"model": "additive", "sd": 4.0,
            "doc": "value = clip(model + N(0, sd^2), 0, 200) % predicted; the SD is a guess"},
}


def prior_cohort(n_subjects: int = 100, *, seed: int = 0,
                 genotype_mix: dict[str, float] | None = None,
                 preset_version: str = LATEST_PRESET) -> Synthetic:
    """A natural-history cohort of plausible patients: every subject's parameters drawn from
    the population prior, `alsjax.prior(genotype, "human", preset_version=...)`.

    **Who.** Genotypes in the shares `genotype_mix` (default `PRIOR_COHORT_MIX`; counts
    rounded, sporadic the rest, order shuffled). For each genotype, twice as many candidates
    as subjects are drawn, in one `Prior.sample` with the key `jax.random.fold_in(
    jax.random.key(seed), i)` (i: the genotype's place in `GENOTYPES`); the subjects are
    the first candidates, in draw order, whose solve succeeds and who reach onset within
    `ONSET_HORIZON` (20 years). A cohort is made of patients, so it is the prior
    conditioned on onset; the truth records how many candidates each genotype took.

    **Design.** Time 0 is each subject's model onset. Enrolment after a diagnostic delay
    of U(180, 540) days (at most half the time from onset to death), then visits every 90
    days (+ U{0..14}) for 24 months: ALSFRS-R and FVC at each, NfL at every other; no
    therapy, no dropout; rows after death are absent, and a death row is 1 at the death
    day within follow-up, else 0 at the last visit. Noise: `PRIOR_COHORT_NOISE`. Each
    subject's onset and death days (cascade clock) and every parameter that varies are in
    `prior_cohort_truth_subjects.csv`.
    """
    if n_subjects < 1:
        raise ALSJaxError(f"prior_cohort: need at least 1 subject, got {n_subjects}")
    mix = PRIOR_COHORT_MIX if genotype_mix is None else genotype_mix
    shares = list(mix.values())
    if set(mix) - set(GENOTYPES[1:]) or not all(math.isfinite(v) and v >= 0 for v in shares) \
            or sum(shares) > 1:
        raise ALSJaxError(f"prior_cohort: genotype_mix needs shares >= 0 of {GENOTYPES[1:]} "
                          f"adding up to at most 1, got {mix}")
    rng = np.random.default_rng(seed)
    counts = {g: round(mix.get(g, 0.0) * n_subjects) for g in GENOTYPES[1:]}
    counts = {"sporadic": n_subjects - sum(counts.values()), **counts}
    if counts["sporadic"] < 0:
        raise ALSJaxError(f"prior_cohort: the genotype shares leave {counts['sporadic']} "
                          f"sporadic subjects of {n_subjects}")
    # Twice as many candidates as subjects per genotype, all solved in one batch.
    key = jax.random.key(seed)
    present = [g for g in GENOTYPES if counts[g]]
    candidates = jax.tree.map(lambda *a: jnp.concatenate(a), *[
        prior(g, "human", preset_version=preset_version).sample(
            jax.random.fold_in(key, GENOTYPES.index(g)), 2 * counts[g]) for g in present])
    of = np.repeat(present, [2 * counts[g] for g in present])
    sol = _solve_batch(candidates, jnp.broadcast_to(
        jnp.asarray([0.0, ONSET_HORIZON["human"]]), (of.size, 2)),
        stack_therapies([{}] * of.size))
    events = np.asarray(sol.events)
    ill = np.asarray(sol.success) & np.isfinite(events[:, EVENT_NAMES.index("onset")])
    chosen, drawn = [], {}
    for g in present:
        ok = np.flatnonzero(ill & (of == g))
        if ok.size < counts[g]:
            raise ALSJaxError(f"prior_cohort: only {ok.size} of {2 * counts[g]} {g} draws "
                              "reach onset within 20 years; change the seed")
        chosen.extend(ok[:counts[g]])
        drawn[g] = {"subjects": counts[g],
                    "candidates": int(ok[counts[g] - 1] - np.flatnonzero(of == g)[0]) + 1}
    chosen = np.asarray(chosen)[rng.permutation(n_subjects)]
    params = jax.tree.map(lambda a: a[chosen], candidates)
    genotypes = [str(g) for g in of[chosen]]
    onset = events[chosen, EVENT_NAMES.index("onset")]
    death_day = events[chosen, EVENT_NAMES.index("death")]

    delay = rng.uniform(180.0, 540.0, n_subjects)
    n_visits = 9
    jitter = rng.integers(0, 15, (n_subjects, n_visits)).astype(float)
    jitter[:, 0] = 0.0
    room = np.where(np.isfinite(death_day), 0.5 * (death_day - onset), np.inf)
    enrol = np.round(np.minimum(delay, room))  # days since onset
    visits = enrol[:, None] + 90.0 * np.arange(n_visits) + jitter
    noise = {k: rng.standard_normal((n_subjects, n_visits)) for k in PRIOR_COHORT_NOISE}
    obs, events = _solve(params, onset[:, None] + visits, [{}] * n_subjects, "prior_cohort")

    ids = [f"R{i + 1:03d}" for i in range(n_subjects)]
    rows, subjects = [], []
    for i in range(n_subjects):
        death = events["death"][i] - onset[i]
        seen = []
        for k in range(n_visits):
            t = visits[i, k]
            if t > death:
                break
            seen.append(t)
            for name in ("alsfrs_r", "fvc") + (("nfl",) if k % 2 == 0 else ()):
                rows.append((i, ids[i], t, name, _noisy(
                    PRIOR_COHORT_NOISE[name], obs[name][i, k], noise[name][i, k])))
        died = bool(death <= visits[i, -1])
        rows.append((i, ids[i], death if died else visits[i, -1], "death", float(died)))
        subjects.append({
            "subject": ids[i], "genotype": genotypes[i], "onset_day": json_float(onset[i]),
            "enrolment_day": json_float(enrol[i]), "visits": len(seen),
            "death_day": json_float(events["death"][i]) if died else None,
        })
    data = _rows(rows, genotypes, "human", [""] * n_subjects)
    values = {k: np.asarray(v, float) for k, v in physical(params).items()}
    varied = [k for k in PARAMETER_NAMES if np.any(values[k] != values[k][0])]
    table = pd.DataFrame({"subject": ids, "genotype": genotypes, "onset_day": onset,
                          "death_day": [s["death_day"] for s in subjects],
                          **{k: values[k] for k in varied}})
    truth = {
        "generator": "alsjax.synth prior_cohort", "seed": seed,
        "preset_version": preset_version, "n_subjects": n_subjects,
        "time_origin": "each subject's symptom onset (the model's onset event)",
        "genotype_mix": counts,
        "prior": {
            "distribution": f"alsjax.prior(genotype, 'human', preset_version="
                            f"'{preset_version}') (the population prior)",
            "key": "jax.random.fold_in(jax.random.key(seed), GENOTYPES.index(genotype))",
            "selection": "the first draws, in draw order, that solve and reach onset within "
                         f"{ONSET_HORIZON['human']:g} days",
            "drawn": drawn, "varied": varied,
        },
        "design": {"diagnostic_delay_days": [180.0, 540.0], "visit_days": 90.0,
                   "visits": n_visits, "nfl_every_visits": 2, "therapy": "none"},
        "parameters": _shared_truth_values(values),
        "varied": {},
        "noise": PRIOR_COHORT_NOISE, "subjects": subjects,
        "versions": versions(("alsjax", "jax")),
    }
    return Synthetic("prior_cohort", data, truth, table)


_GENERATORS = {"human_cohort": human_cohort, "mouse_sod1": mouse_sod1,
               "small_human": small_human, "population": population,
               "prior_cohort": prior_cohort}


def check_dataset(name: str, n: int | None = None) -> None:
    """Raise `ALSJaxError` for an unknown dataset or a subject count below 1 (cheap)."""
    if name not in _GENERATORS:
        import difflib

        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ALSJaxError(f"unknown dataset {name!r}{hint}; choose from {', '.join(DATASETS)}")
    if n is not None and n < 1:
        raise ALSJaxError(f"{name}: the number of subjects must be >= 1, got {n}")


def synthesize(name: str, *, seed: int = 0, n: int | None = None,
               preset_version: str = LATEST_PRESET, **options: Any) -> Synthetic:
    """Generate dataset `name` (one of `DATASETS`); `n` overrides its subject count, and
    `options` go to its generator (say, `genotype_mix=` of `prior_cohort`).

    The subjects' parameters come from the presets of `preset_version` (one of
    `PRESET_VERSIONS`), which the truth file records."""
    check_dataset(name, n)
    check_preset_version(preset_version)
    gen = _GENERATORS[name]
    if n is None:
        return gen(seed=seed, preset_version=preset_version, **options)
    return gen(n, seed=seed, preset_version=preset_version, **options)


_SETTINGS = ("seed", "n_subjects", "preset_version", "genotype_mix")


def check_replaceable(synth: Synthetic, out: str | os.PathLike) -> None:
    """Raise `ALSJaxError` if `out` holds this dataset made with another seed, size, preset
    version or genotype mix: `alsjax synth` would otherwise replace, say, the shipped
    2026.12 data with the latest version's without a word (regenerating the same bytes is
    harmless)."""
    path = Path(out) / f"{synth.name}_truth.json"
    if not path.exists():
        return
    try:
        made = json.loads(path.read_text())
        differ = [k for k in _SETTINGS if made[k] != synth.truth[k]]
    except (OSError, ValueError, KeyError, TypeError):
        raise ALSJaxError(f"{path}: exists but is not an alsjax truth file; remove it, choose "
                          "another --out, or pass --force") from None
    if differ:
        was = ", ".join(f"{k} {made[k]}" for k in differ)
        now = ", ".join(f"{k} {synth.truth[k]}" for k in differ)
        raise ALSJaxError(f"{path}: made with {was}; this run ({now}) would replace it: pass "
                          "those settings to regenerate it, choose another --out, or pass "
                          "--force")


def write_synthetic(synth: Synthetic, out: str | os.PathLike) -> list[Path]:
    """Write `<name>.csv`, `<name>_truth.json` and `<name>_truth.csv` into `out`, atomically;
    for a cohort with random effects (`population`) also `<name>_truth_subjects.csv`: each
    subject's covariates, true parameters and random effects (log scale); for one drawn
    from the prior (`prior_cohort`) the same file holds each subject's every parameter
    that varies."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ALSJaxError(f"{out}: exists and is not a folder")
    paths = [out / f"{synth.name}.csv", out / f"{synth.name}_truth.json",
             out / f"{synth.name}_truth.csv"]
    write_measurements(synth.data, paths[0])
    atomic_write_text(paths[1], json.dumps(synth.truth, indent=2) + "\n")
    lines = ["parameter,value"] + [f"{k},{v:.10g}" for k, v in synth.truth["parameters"].items()]
    for k, spec in synth.truth["varied"].items():
        pops = set(spec["population"].values())
        if len(pops) == 1:  # the population median is one number for every genotype
            lines.append(f"{k},{pops.pop():.10g}")
    atomic_write_text(paths[2], "\n".join(lines) + "\n")
    if "random_effects" in synth.truth:
        names = synth.truth["random_effects"]["parameters"]
        rows = ["subject,genotype,site_of_onset,therapy," + ",".join(names) + ","
                + ",".join(f"eta_{k}" for k in names)]
        for subj in synth.truth["subjects"]:
            rows.append(",".join(
                [subj["subject"], subj["genotype"], subj["site_of_onset"], subj["therapy"]]
                + [f"{subj['parameters'][k]:.10g}" for k in names]
                + [f"{subj['random_effects'][k]:.10g}" for k in names]))
        paths.append(out / f"{synth.name}_truth_subjects.csv")
        atomic_write_text(paths[-1], "\n".join(rows) + "\n")
    elif synth.subjects is not None:
        paths.append(out / f"{synth.name}_truth_subjects.csv")
        atomic_write_text(paths[-1], synth.subjects.to_csv(
            index=False, float_format="%.10g", lineterminator="\n"))
    return paths
