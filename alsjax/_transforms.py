"""How a quantity is stored for optimisers and samplers: one small type per storage.

A positive rate is stored as its log, a fraction in (0, 1) as its logit, a quantity that
may be exactly zero (a genotype's drive term, a time shift) as itself, and a fraction that
may be exactly 0 or 1 (a structural switch) as itself, checked to lie in [0, 1]. Each `Transform`
knows the maps both ways, the log-Jacobian a sampler needs, the domain a physical value
must lie in, default fit bounds, and the name PEtab gives the scale, so no other module
decides any of this by comparing strings.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._errors import ALSJaxError


@dataclasses.dataclass(frozen=True)
class Transform:
    """The storage of one quantity. `name` is "log", "logit" or "none"."""

    name: str
    petab_scale: str  # parameterScale in a PEtab parameter table

    def to_stored(self, value: ArrayLike) -> Array:
        raise NotImplementedError

    def to_physical(self, stored: ArrayLike) -> Array:
        raise NotImplementedError

    def log_det(self, stored: ArrayLike) -> Array:
        """log |d physical / d stored|: the change of variables for densities."""
        raise NotImplementedError

    def check(self, value: float, where: str) -> None:
        """Raise `ALSJaxError` (naming `where`) if `value` is outside the domain."""
        if not math.isfinite(value):
            raise ALSJaxError(f"{where} must be finite, got {value!r}")

    def physical_se(self, physical: float, stored_se: float) -> float:
        """Standard error of the physical value from the stored one (delta method)."""
        raise NotImplementedError

    def default_bounds(self, stored: float, factor: float) -> tuple[float, float]:
        """Fit bounds on the stored scale around a nominal value: x/÷ `factor`."""
        return stored - math.log(factor), stored + math.log(factor)


@dataclasses.dataclass(frozen=True)
class Log(Transform):
    name: str = "log"
    petab_scale: str = "log"

    def to_stored(self, value):
        return jnp.log(jnp.asarray(value))

    def to_physical(self, stored):
        return jnp.exp(jnp.asarray(stored))

    def log_det(self, stored):
        return jnp.asarray(stored)

    def check(self, value, where):
        super().check(value, where)
        if not value > 0:
            raise ALSJaxError(f"{where} must be > 0, got {value:g}")

    def physical_se(self, physical, stored_se):
        return physical * stored_se


@dataclasses.dataclass(frozen=True)
class Logit(Transform):
    name: str = "logit"
    petab_scale: str = "lin"  # PEtab has no logit scale

    def to_stored(self, value):
        value = jnp.asarray(value)
        return jnp.log(value) - jnp.log1p(-value)

    def to_physical(self, stored):
        return jax.nn.sigmoid(jnp.asarray(stored))

    def log_det(self, stored):
        return jax.nn.log_sigmoid(stored) + jax.nn.log_sigmoid(-jnp.asarray(stored))

    def check(self, value, where):
        super().check(value, where)
        if not 0 < value < 1:
            raise ALSJaxError(f"{where} must be in (0, 1), got {value:g}")

    def physical_se(self, physical, stored_se):
        return physical * (1 - physical) * stored_se


@dataclasses.dataclass(frozen=True)
class Plain(Transform):
    """Stored as is: for quantities that may be exactly zero (default bounds [0, 10 x])."""

    name: str = "none"
    petab_scale: str = "lin"

    def to_stored(self, value):
        return jnp.asarray(value)

    def to_physical(self, stored):
        return jnp.asarray(stored)

    def log_det(self, stored):
        return jnp.zeros_like(jnp.asarray(stored))

    def physical_se(self, physical, stored_se):
        return stored_se

    def default_bounds(self, stored, factor):
        return 0.0, max(factor * stored, 1e-3)


@dataclasses.dataclass(frozen=True)
class PlainFraction(Plain):
    """Stored as is, in [0, 1] with both ends allowed: a switch between two structures of
    the model that a fraction interpolates (a logit could not hold 0 or 1)."""

    name: str = "fraction"

    def check(self, value, where):
        super().check(value, where)
        if not 0 <= value <= 1:
            raise ALSJaxError(f"{where} must be in [0, 1], got {value:g}")

    def default_bounds(self, stored, factor):
        return 0.0, 1.0


LOG, LOGIT, PLAIN, FRACTION = Log(), Logit(), Plain(), PlainFraction()
TRANSFORMS: dict[str, Transform] = {t.name: t for t in (LOG, LOGIT, PLAIN, FRACTION)}
"""Every storage by name (the `transform` column of `alsjax params`)."""
