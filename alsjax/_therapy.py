"""Therapies as arrays: which drugs are on and the day each starts.

A therapy is data, not code: the vector field multiplies each drug's effect by
`on * (t >= start)`, so a cohort that mixes trial arms is one `vmap` and one compilation.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._errors import ALSJaxError

DRUGS: tuple[str, ...] = ("riluzole", "edaravone", "tofersen", "anti_inflammatory")
"""Drugs in the order of `Therapy.on` and `Therapy.start`."""


class Therapy(eqx.Module):
    """Per-drug switches (`on`, 0 or 1) and start days, in the order of `DRUGS`."""

    on: Float[Array, "*b drugs"] = eqx.field(converter=jnp.asarray)
    start: Float[Array, "*b drugs"] = eqx.field(converter=jnp.asarray)

    def active(self, t: Float[Array, ""]) -> Float[Array, "*b drugs"]:
        """1.0 for each drug that is on and has started by day `t`, else 0.0."""
        return self.on * (t >= self.start).astype(self.on.dtype)


def no_therapy() -> Therapy:
    """Every drug off."""
    return Therapy(on=jnp.zeros(len(DRUGS)), start=jnp.zeros(len(DRUGS)))


def make_therapy(drugs: dict[str, float] | None = None, /, **start_days: float) -> Therapy:
    """A therapy from drug names and start days (days on the model's clock).

    `make_therapy(riluzole=0.0, edaravone=180.0)` or `make_therapy({"riluzole": 0.0})`.
    """
    given = dict(drugs or {}, **start_days)
    on, start = [0.0] * len(DRUGS), [0.0] * len(DRUGS)
    for name, day in given.items():
        if name not in DRUGS:
            raise ALSJaxError(f"unknown therapy {name!r}; choose from {', '.join(DRUGS)}")
        day = float(day)
        if not math.isfinite(day) or day < 0:
            raise ALSJaxError(f"therapy {name!r}: start day must be finite and >= 0, got {day}")
        on[DRUGS.index(name)], start[DRUGS.index(name)] = 1.0, day
    return Therapy(on=jnp.asarray(on), start=jnp.asarray(start))


def parse_therapy(text: str) -> Therapy:
    """Parse `"riluzole:0,edaravone:180"` (a name without `:day` starts on day 0)."""
    drugs: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, day = item.partition(":")
        try:
            drugs[name.strip()] = float(day) if day.strip() else 0.0
        except ValueError:
            raise ALSJaxError(f"therapy {item!r}: start day {day!r} is not a number") from None
    return make_therapy(drugs)
