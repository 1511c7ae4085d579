"""Shared by the fit tests: data with known truth in the layout of the shipped default fit.

Every fitting test uses the layout of `data/synthetic/small_human.csv` (4 subjects,
ALSFRS-R and NfL slots) and estimates the same two parameters, so one compiled optimiser
serves the human and mouse recoveries, the calibration refits and the CLI's default fit.
"""

from pathlib import Path

import jax.numpy as jnp
import numpy as np

import alsjax
from alsjax._data import read_measurements

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = ROOT / "data" / "synthetic" / "small_human.csv"
ESTIMATE = ("apoptotic_death_rate", "nfl_release")
# Each observable's error as the fit's default noise model reads it (DEFAULT_NOISE_MODEL):
# ALSFRS-R additive (SD 1 point), NfL proportional (log-normal, CV 0.15).
NOISE = {"alsfrs_r": ("gaussian", 1.0), "nfl": ("lognormal", 0.15)}
HUMAN_TRUTH = {"apoptotic_death_rate": 0.009, "nfl_release": 2600.0}
MOUSE_TRUTH = {"apoptotic_death_rate": 0.005, "nfl_release": 1500.0}
# The preset version of engine tests whose setting was written for the model before
# revision 9: a solve that fails (revision 9's model solves even a death rate of 1e5/day),
# bounds about that pace, tolerances measured on its dynamics. The engine does not depend
# on the preset, so a new default should not change what those tests exercise.
BEFORE_REVISION_9 = "2026.12.7"


def synthetic(truth: dict, seed: int, species: str = "human",
              preset_version: str = alsjax.PRESET_VERSIONS[-1]):
    """The default fit's layout, values simulated at `truth` (on that preset version) plus
    seeded noise (`NOISE`). Mouse: the same slots moved onto days 50-130 of age (the
    SOD1-G93A course)."""
    df = read_measurements(LAYOUT).copy()
    if species == "mouse":
        df["time"] = 50.0 + (df["time"] - 600.0) * (80.0 / 990.0)
        df["species"], df["genotype"] = "mouse", "SOD1"
        p = alsjax.default_params("SOD1", "mouse", preset_version=preset_version)
    else:
        p = alsjax.default_params(preset_version=preset_version)
    p = p.replace(**truth)
    ts = np.unique(df["time"].to_numpy(float))
    sol = alsjax.simulate(p, jnp.asarray(ts))
    rng = np.random.default_rng(seed)
    values = []
    for t, k in zip(df["time"], df["observable"], strict=True):
        f = float(np.asarray(sol.observables[k])[np.searchsorted(ts, t)])
        model, sd = NOISE[k]
        e = sd * rng.normal()
        values.append(f * np.exp(e) if model == "lognormal" else f + e)
    df["value"] = values
    return df
