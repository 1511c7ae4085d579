"""Measurement noise: which model each observable follows, and everything that model does.

Each observable k has a noise model m_k, chosen per fit (`noise`: one name for all, or a
mapping observable -> name, the others taking `DEFAULT_NOISE_MODEL`). For a measurement y
with model prediction f and noise SD s:

- gaussian (additive): y ~ N(f, s^2), s an SD in the observable's unit;
- lognormal (proportional): log y ~ N(log f, s^2), s a coefficient of variation.

Both are a standardised residual e / s on their own scale (y - f, or log y - log f), with
the negative log-density e^2 / (2 s^2) + log s + log(2 pi) / 2 (+ log y for lognormal).
That shared form gives the closed-form maximum-likelihood SD, s^2 = mean(e^2), which the
Levenberg-Marquardt fit uses, and `apply_noise` draws data from the same model, which the
synthetic datasets and the tests use. This module is the one home of all of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._errors import ALSJaxError, did_you_mean
from ._observables import OBSERVABLE_NAMES
from ._programs import to_device

NOISE_MODELS: tuple[str, ...] = ("gaussian", "lognormal")

DEFAULT_NOISE_MODEL: dict[str, str] = {
    "alsfrs_r": "gaussian", "nfl": "lognormal", "umn": "gaussian", "lmn": "gaussian",
    "fvc": "gaussian", "grip_strength": "gaussian", "spasticity": "gaussian",
}
"""Each observable's noise model when `noise` does not name it. Scores, percentages and
surviving fractions are read with an error of roughly fixed size (additive); NfL is an
immunoassay concentration whose error grows with the level (a constant CV, log-normal)."""

NoiseSpec = str | Mapping[str, str] | Sequence[str] | None
"""`noise` arguments: None (each observable's `DEFAULT_NOISE_MODEL`), one model name for
every observable, a mapping observable -> model name (the rest default), or the tuple of
`len(OBSERVABLE_NAMES)` names that `noise_models` returns."""

DEFAULT_NOISE_SD: dict[str, dict[str, float]] = {
    "gaussian": {"alsfrs_r": 2.0, "nfl": 10.0, "umn": 0.05, "lmn": 0.05, "fvc": 5.0,
                 "grip_strength": 5.0, "spasticity": 0.3},
    "lognormal": {k: 0.1 for k in OBSERVABLE_NAMES},
}
"""Noise SD of each observable when the data give none and none is estimated (guesses of
a typical measurement error: 2 ALSFRS-R points, a 10% immunoassay CV)."""

_TINY = 1e-12  # floor for logs of values and predictions that should be positive


def _model_name(value, where: str) -> str:
    if not isinstance(value, str) or value not in NOISE_MODELS:
        raise ALSJaxError(f"{where}: expected 'gaussian' or 'lognormal', got {value!r}")
    return value


def noise_models(noise: NoiseSpec = None, *, where: str = "noise") -> tuple[str, ...]:
    """Each observable's noise model (order of `OBSERVABLE_NAMES`) from a `NoiseSpec`.

    The result is a hashable tuple, so it can be a static argument or a static field:
    equal specs select the same compiled program. Raises `ALSJaxError` (one line naming
    `where` and the key) on an unknown observable or model name.
    """
    if noise is None:
        return tuple(DEFAULT_NOISE_MODEL[k] for k in OBSERVABLE_NAMES)
    if isinstance(noise, str):
        return (_model_name(noise, where),) * len(OBSERVABLE_NAMES)
    if isinstance(noise, Mapping):
        models = dict(DEFAULT_NOISE_MODEL)
        for k, m in noise.items():
            if k not in OBSERVABLE_NAMES:
                raise ALSJaxError(f"{where}: unknown observable {k!r}"
                                  f"{did_you_mean(str(k), OBSERVABLE_NAMES)}; known: "
                                  f"{', '.join(OBSERVABLE_NAMES)}")
            models[k] = _model_name(m, f"{where}.{k}")
        return tuple(models[k] for k in OBSERVABLE_NAMES)
    if isinstance(noise, Sequence) and len(noise) == len(OBSERVABLE_NAMES):
        return tuple(_model_name(m, f"{where}.{k}")
                     for k, m in zip(OBSERVABLE_NAMES, noise, strict=True))
    raise ALSJaxError(f"{where}: expected a model name or a table observable -> model, "
                      f"got {noise!r}")


def default_noise_sd(noise: NoiseSpec = None) -> Array:
    """Per-observable noise SDs (order of `OBSERVABLE_NAMES`) used when none is given:
    each observable's `DEFAULT_NOISE_SD` under its own noise model."""
    models = noise_models(noise)
    sd = [DEFAULT_NOISE_SD[m][k] for k, m in zip(OBSERVABLE_NAMES, models, strict=True)]
    return to_device(sd)


def on_scale(x: ArrayLike, log_scale: ArrayLike) -> Array:
    """A value on its noise model's own scale: log x where `log_scale`, else x."""
    x = jnp.asarray(x)
    return jnp.where(log_scale, jnp.log(jnp.maximum(x, _TINY)), x)


def own_sd(y: ArrayLike, sigma: ArrayLike, log_scale: ArrayLike) -> Array:
    """A row's own `sigma` (always on the linear scale) on its noise model's scale: sigma /
    |y| on the log scale (a lognormal observable's rows; not arm summaries, whose sigma is
    a standard error of the mean)."""
    y = jnp.asarray(y)
    return jnp.where(log_scale, sigma / jnp.maximum(jnp.abs(y), 1e-12), sigma)


def standardised(y: ArrayLike, f: ArrayLike, sd: ArrayLike, log_scale: ArrayLike) -> Array:
    """(y - f) / sd, on the log scale where `log_scale`."""
    return (on_scale(y, log_scale) - on_scale(f, log_scale)) / sd


def log_normaliser(y: ArrayLike, sd: ArrayLike, log_scale: ArrayLike) -> Array:
    """-log density of a row minus its e^2 / 2: log sd + log(2 pi) / 2 (+ log y)."""
    return jnp.log(sd) + 0.5 * math.log(2 * math.pi) + jnp.where(
        log_scale, jnp.log(jnp.maximum(jnp.asarray(y), _TINY)), 0.0)


def closed_form_sd(standardised_sq_sum: ArrayLike, sd: ArrayLike, n: ArrayLike) -> Array:
    """The maximum-likelihood SD of one observable from its rows' sum of squared
    standardised residuals at SD `sd` (s^2 = mean(e^2), e the unscaled residual)."""
    mean_sq = jnp.asarray(standardised_sq_sum) * jnp.asarray(sd) ** 2 / jnp.maximum(n, 1.0)
    return jnp.sqrt(jnp.maximum(mean_sq, 1e-300))


def apply_noise(f: ArrayLike, z: ArrayLike, model: str, sd: float) -> np.ndarray:
    """Data drawn from the noise model: f + sd z (gaussian) or f exp(sd z) (lognormal),
    for standard normal draws `z` that the caller makes (so its random stream is its own).
    The model names of synthetic truths ("additive") count as gaussian."""
    f, z = np.asarray(f, float), np.asarray(z, float)
    if model == "lognormal":
        return f * np.exp(sd * z)
    if model in ("gaussian", "additive"):
        return f + sd * z
    raise ALSJaxError(f"noise model: expected 'gaussian' or 'lognormal', got {model!r}")
