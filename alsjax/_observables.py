"""What is measured: states -> clinical scores and biomarkers, and the events trials count.

Every observable is a pure function of the state (any leading axes) and the physical
parameters, so it maps a whole trajectory at once.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

OBSERVABLE_NAMES: tuple[str, ...] = (
    "alsfrs_r",  # ALSFRS-R total score, 0-48
    "nfl",  # serum neurofilament light, pg/mL
    "umn",  # surviving upper motor neurons, fraction
    "lmn",  # surviving lower motor neurons, fraction
    "fvc",  # forced vital capacity, % of predicted
    "grip_strength",  # limb (mouse: hind-limb) strength, % of healthy
    "spasticity",  # upper-motor-neuron burden on a 0-4 (Ashworth-like) scale
)
OBSERVABLE_UNITS: dict[str, str] = {
    "alsfrs_r": "points (0-48)",
    "nfl": "pg/mL",
    "umn": "fraction",
    "lmn": "fraction",
    "fvc": "% predicted",
    "grip_strength": "% of healthy",
    "spasticity": "score (0-4)",
}
EVENT_NAMES: tuple[str, ...] = ("onset", "death", "end_stage")
"""Symptom onset; death or permanent ventilation; the mouse's paralysis of both hind limbs."""

_IDX = {"umn": 11, "lmn": 12, "muscle": 13, "nfl": 14}


def motor_function(y: Float[Array, "... states"], r: dict) -> Float[Array, ...]:
    """Whole-body motor function (1 = healthy): flaccid weakness from LMN loss (muscle),
    scaled down by spasticity from UMN loss."""
    umn, muscle = y[..., _IDX["umn"]], y[..., _IDX["muscle"]]
    return muscle * (1 - r["spasticity_weight"] * (1 - umn))


def observables(y: Float[Array, "... states"], r: dict) -> dict[str, Float[Array, ...]]:
    """All observables of states `y` (physical parameters `r`), keyed by name."""
    function = motor_function(y, r)
    return {
        "alsfrs_r": 48.0 * jnp.clip(function, 0.0, 1.0),
        "nfl": y[..., _IDX["nfl"]],
        "umn": y[..., _IDX["umn"]],
        "lmn": y[..., _IDX["lmn"]],
        "fvc": 100.0 * y[..., _IDX["muscle"]],
        "grip_strength": 100.0 * function,
        "spasticity": 4.0 * (1 - y[..., _IDX["umn"]]),
    }


def event_margins(y: Float[Array, "... states"], r: dict) -> Float[Array, "... events"]:
    """How far each event's signal is above its threshold (the event is when it hits 0).

    onset: motor function vs `onset_threshold`; death: respiratory (LMN-driven muscle)
    function vs `death_threshold`; end_stage: hind-limb function vs `end_stage_threshold`.
    """
    muscle = y[..., _IDX["muscle"]]
    return jnp.stack(
        [
            motor_function(y, r) - r["onset_threshold"],
            muscle - r["death_threshold"],
            muscle - r["end_stage_threshold"],
        ],
        axis=-1,
    )
