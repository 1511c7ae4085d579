"""What is measured: states -> clinical scores and biomarkers, and the events trials count.

Every observable is a pure function of the state (any leading axes) and the physical
parameters, so it maps a whole trajectory at once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

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
OBSERVABLE_LABELS: dict[str, str] = {
    "alsfrs_r": "ALSFRS-R (points, 0-48)",
    "nfl": "serum NfL (pg/mL)",
    "umn": "upper motor neurons (fraction)",
    "lmn": "lower motor neurons (fraction)",
    "fvc": "FVC (% predicted)",
    "grip_strength": "grip strength (% of healthy)",
    "spasticity": "spasticity (score 0-4)",
}
"""Each observable's name with its unit, as figure titles show it."""


class ValueRange(NamedTuple):
    """The values a measurement can physically take: `low <= value <= high` (`low < value`
    when `open_low`), and `why`, said in the error a value outside gets."""

    low: float
    high: float
    why: str
    open_low: bool = False

    def allows(self, value: ArrayLike) -> ArrayLike:
        """Whether `value` (a float or an array, elementwise) lies in the range."""
        above = (self.low < value) if self.open_low else (self.low <= value)
        return above & (value <= self.high)

    def __str__(self) -> str:
        return f"{'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"


OBSERVABLE_RANGES: dict[str, ValueRange] = {
    # A rater adds 12 items scored 0-4 (Cedarbaum et al. 1999): 48 is the best possible.
    "alsfrs_r": ValueRange(0.0, 48.0, "12 items scored 0-4"),
    # A concentration is > 0 (0 is not a reading: give the assay's `lloq` instead). The
    # ceiling is a guess: serum NfL in ALS is typically tens to a few hundred pg/mL and
    # CSF NfL is higher still, but 100,000 pg/mL (100 ng/mL) is far above what we know of
    # in either, so a value there is more likely a unit mix-up or a corrupt cell.
    "nfl": ValueRange(0.0, 1.0e5, "a concentration in pg/mL: > 0; more than 100000 is "
                      "likely a unit mix-up", open_low=True),
    # Fractions of the healthy motor neuron pool that survive.
    "umn": ValueRange(0.0, 1.0, "a surviving fraction"),
    "lmn": ValueRange(0.0, 1.0, "a surviving fraction"),
    # % of the predicted value for age, sex and height: a living patient who can do the
    # test has some capacity (> 0); healthy people reach about 130%, 200 leaves room.
    "fvc": ValueRange(0.0, 200.0, "% of predicted, > 0", open_low=True),
    # % of healthy strength: 0 is a real reading (a paralysed limb, the mouse's end stage);
    # a ceiling of twice healthy leaves room for strong subjects.
    "grip_strength": ValueRange(0.0, 200.0, "% of healthy strength"),
    # The model's Ashworth-like score runs 0-4.
    "spasticity": ValueRange(0.0, 4.0, "a 0-4 (Ashworth-like) score"),
}
"""Each observable's physically possible values; `read_measurements` rejects a row outside
(a value below the row's `lloq` is a censored reading and is not checked)."""

TIME_HORIZON: dict[str, float] = {
    "human": 36_525.0,  # 100 years: even days of age fit
    "mouse": 1_000.0,  # about the longest a laboratory mouse lives (SOD1-G93A: ~150 days)
}
"""The latest day (`time`, days from the data's origin) a species' data can hold; a larger
number is most likely hours, minutes or a date typed as days."""

EVENT_NAMES: tuple[str, ...] = ("onset", "death", "end_stage")
"""Symptom onset; death or permanent ventilation; the mouse's paralysis of both hind limbs."""

_IDX = {"umn": 11, "lmn": 12, "muscle": 13, "nfl": 14, "respiratory_muscle": 16}


def motor_function(y: Float[Array, "... states"], r: dict) -> Float[Array, ...]:
    """Limb motor function (1 = healthy): flaccid weakness from LMN loss (muscle), scaled
    down by spasticity from UMN loss."""
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
        "fvc": 100.0 * y[..., _IDX["respiratory_muscle"]],
        "grip_strength": 100.0 * function,
        "spasticity": 4.0 * (1 - y[..., _IDX["umn"]]),
    }


def event_margins(y: Float[Array, "... states"], r: dict) -> Float[Array, "... events"]:
    """How far each event's signal is above its threshold (the event is when it hits 0).

    onset: motor function vs `onset_threshold`; death: respiratory muscle function vs
    `death_threshold`; end_stage: (hind-)limb muscle function vs `end_stage_threshold`.
    """
    return jnp.stack(
        [
            motor_function(y, r) - r["onset_threshold"],
            y[..., _IDX["respiratory_muscle"]] - r["death_threshold"],
            y[..., _IDX["muscle"]] - r["end_stage_threshold"],
        ],
        axis=-1,
    )
