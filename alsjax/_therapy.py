"""Therapies as arrays: which drugs are on and the day each starts.

A therapy is data, not code: the vector field multiplies each drug's effect by
`on * (t >= start)`, so a cohort that mixes trial arms is one `vmap` and one compilation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._errors import ALSJaxError, did_you_mean
from ._programs import to_device

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


def therapy_days(text: str, *, single_start: float = math.nan) -> dict[str, float]:
    """Drug -> start day from text such as `"riluzole:0,edaravone:180"`.

    The one parser of therapy text. Drug names match case-insensitively; a name without
    `:day` starts on `single_start` when it is the only drug and that is given, else on
    day 0; `""` and `"none"` mean no drug. Raises `ALSJaxError` (one line, naming the
    item) for an unknown drug, a drug named twice (which start was meant?) or a start day
    that is not a finite number >= 0.
    """
    if text.strip().lower() in ("", "none"):
        return {}
    by_lower = {d.lower(): d for d in DRUGS}
    items = [s.strip() for s in text.split(",") if s.strip()]
    days: dict[str, float] = {}
    for item in items:
        name, colon, day = (s.strip() for s in item.partition(":"))
        drug = by_lower.get(name.lower())
        if drug is None:
            raise ALSJaxError(f"unknown therapy {name!r}{did_you_mean(name, DRUGS)}; "
                              f"choose from {', '.join(DRUGS)}")
        if drug in days:
            raise ALSJaxError(f"drug {drug!r} is named twice; give each drug once, with "
                              "its start day")
        if colon:
            try:
                start = float(day)
            except ValueError:
                raise ALSJaxError(f"start day {day!r} of {drug!r} is not a number") from None
        elif len(items) == 1 and not math.isnan(single_start):
            start = single_start
        else:
            start = 0.0
        if not math.isfinite(start) or start < 0:
            raise ALSJaxError(f"start day of {drug!r} must be finite and >= 0, got {start:g}")
        days[drug] = start
    return days


def format_therapy(days: Mapping[str, float]) -> str:
    """`{"riluzole": 0.0}` -> `"riluzole:0"`, drugs in the order of `DRUGS` (10 digits)."""
    return ",".join(f"{d}:{float(days[d]):.10g}" for d in DRUGS if d in days)


def make_therapy(drugs: Mapping[str, float] | None = None, /, **start_days: float) -> Therapy:
    """A therapy from drug names and start days (days on the model's clock).

    `make_therapy(riluzole=0.0, edaravone=180.0)` or `make_therapy({"riluzole": 0.0})`.
    """
    given = dict(drugs or {}, **start_days)
    return parse_therapy(",".join(f"{name}:{day}" for name, day in given.items()))


def parse_therapy(text: str) -> Therapy:
    """Parse `"riluzole:0,edaravone:180"` (a name without `:day` starts on day 0)."""
    batch = stack_therapies([therapy_days(text)])
    return Therapy(on=batch.on[0], start=batch.start[0])


def stack_therapies(days: Sequence[Mapping[str, float]]) -> Therapy:
    """One batched `Therapy` (fields `(len(days), drugs)`) from drug -> start-day maps."""
    on = np.array([[float(d in s) for d in DRUGS] for s in days]).reshape(-1, len(DRUGS))
    start = np.array([[float(s.get(d, 0.0)) for d in DRUGS] for s in days]).reshape(on.shape)
    return Therapy(on=to_device(on), start=to_device(start))
