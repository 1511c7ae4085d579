"""Diagnostics of a fit: what a user must know before trusting its numbers.

- **At a bound.** An estimate within `AT_BOUND_FRACTION` of its bound range (stored
  scale) of a bound. The optimum may lie beyond it, and a Laplace interval there says
  little: widen the bound, or report the bound as a limit.
- **Near-singular Fisher information.** The information matrix scaled to unit diagonal
  (a correlation-like matrix, so the units of the parameters do not matter) has an
  eigenvalue below `NEAR_SINGULAR`: some combination of parameters barely moves the fit
  (for two parameters, |correlation| above 0.999). Its eigenvector, mapped back to the
  stored scale, names the combination the data cannot pin down.
- **Heterogeneity of a pooled fit.** With one set of parameters for every subject, each
  subject's standardised residuals of one observable should average to zero within
  noise: sqrt(n) x mean ~ N(0, 1). The sum of their squares over (subject, observable)
  groups is chi-square with (groups - model parameters) degrees of freedom; a p-value
  below `HETEROGENEITY_P` says the subjects differ more than the noise allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

AT_BOUND_FRACTION = 0.01
NEAR_SINGULAR = 1e-3
HETEROGENEITY_P = 1e-3
POPULATION_FLAG = "--population"
"""The `alsjax fit` option of a population (random-effects) fit, named in the warning."""


def at_bound(theta, lower, upper, names: Sequence[str]) -> dict[str, str]:
    """Each name -> "lower" or "upper" if its stored value is within `AT_BOUND_FRACTION`
    of that bound's range, else ""."""
    theta, lower, upper = (np.asarray(a, float) for a in (theta, lower, upper))
    u = (theta - lower) / (upper - lower)
    return {n: "lower" if ui <= AT_BOUND_FRACTION else "upper"
            if ui >= 1.0 - AT_BOUND_FRACTION else "" for n, ui in zip(names, u, strict=True)}


def weakest_direction(F, names: Sequence[str]) -> tuple[float, dict[str, float]]:
    """The smallest eigenvalue of the unit-diagonal Fisher information and its
    eigenvector on the stored scale (name -> component, the largest +1).

    A parameter with no information at all (zero or non-finite diagonal) is the weakest
    direction by itself, eigenvalue 0."""
    F = np.asarray(F, float)
    d = np.diag(F)
    if not np.all(np.isfinite(F)) or np.any(d <= 0.0):
        bad = int(np.argmin(np.where(np.isfinite(d), d, -np.inf)))
        return 0.0, {n: float(i == bad) for i, n in enumerate(names)}
    s = 1.0 / np.sqrt(d)
    w, V = np.linalg.eigh(F * s[:, None] * s[None, :])
    v = V[:, 0] * s  # back to stored units: a step along v moves the fit least
    v = v / v[np.argmax(np.abs(v))]
    return max(float(w[0]), 0.0), {n: float(x) for n, x in zip(names, v, strict=True)}


def heterogeneity(residuals, groups, n_params: int) -> tuple[float, int, float]:
    """(statistic, degrees of freedom, p-value) of the pooled-fit heterogeneity test.

    `residuals`: standardised residuals of the usable rows; `groups`: each row's
    (subject, observable) group label. Returns NaNs when there are fewer groups than
    `n_params + 1`."""
    r = np.asarray(residuals, float)
    labels, index = np.unique(np.asarray(groups), return_inverse=True, axis=0)
    n = np.bincount(index, minlength=len(labels)).astype(float)
    total = np.bincount(index, weights=r, minlength=len(labels))
    df = len(labels) - int(n_params)
    if df < 1:
        return math.nan, 0, math.nan
    statistic = float(np.sum(total**2 / n))
    return statistic, df, chi2_sf(statistic, df)


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for X chi-square with a whole number `df` of degrees of freedom, in
    closed form (Abramowitz and Stegun 26.4.4-5), without importing scipy (0.4 s of
    start-up): with y = x / 2, e^-y sum_{k<df/2} y^k / k! for even df, and
    erfc(sqrt(y)) + e^-y sum_{k=1}^{(df-1)/2} y^(k-1/2) / Gamma(k+1/2) for odd df.
    Each term is taken in logarithms, so large x and df neither overflow nor underflow
    early; agrees with scipy.special.chdtrc to 1e-12 relative (tests/test_diagnostics)."""
    if not math.isfinite(x):
        return math.nan if math.isnan(x) else 0.0
    if x <= 0:
        return 1.0
    y = 0.5 * x
    if df % 2 == 0:
        ks, total = range(df // 2), 0.0
        powers = [(k, k + 1.0) for k in ks]
    else:
        total = math.erfc(math.sqrt(y))
        powers = [(k - 0.5, k + 0.5) for k in range(1, (df - 1) // 2 + 1)]
    log_y = math.log(y)
    return total + math.fsum(math.exp(a * log_y - y - math.lgamma(g)) for a, g in powers)


def _coordinate(name: str, transform: str) -> str:
    return {"log": f"log {name}", "logit": f"logit {name}"}.get(transform, name)


def messages(at: dict[str, str], eigenvalue: float, direction: dict[str, float],
             transforms: Sequence[str], het: tuple[float, int, float] | None,
             ) -> tuple[str, ...]:
    """The one-line warnings the diagnostics call for (none when all is well)."""
    out = []
    for name, side in at.items():
        if side:
            out.append(f"{name} is at its {side} bound: the optimum may lie beyond it and "
                       "its interval is unreliable; widen its bounds (a recipe's [bounds], or "
                       f"--bound {name}=LOW,HIGH), or check that the preset version and the "
                       "alignment are the data's")
    if eigenvalue < NEAR_SINGULAR:
        kind = dict(zip(direction, transforms, strict=True))
        big = sorted((n for n, v in direction.items() if abs(v) >= 0.1),
                     key=lambda n: -abs(direction[n]))[:4]
        combo = " ".join(f"{'+' if direction[n] >= 0 else '-'}{abs(direction[n]):.2f} "
                         f"{_coordinate(n, kind[n])}" for n in big).lstrip("+")
        what = ("are not separately identifiable" if len(big) > 1
                else "is not identifiable")
        out.append(f"near-singular Fisher information (scaled eigenvalue {eigenvalue:.1e}): "
                   f"{', '.join(big)} {what}; the data do not fix the direction "
                   f"{combo}; fix one, add a prior or add data")
    if het is not None and np.isfinite(het[2]) and het[2] < HETEROGENEITY_P:
        out.append(f"subjects differ more than the noise allows (heterogeneity chi2 "
                   f"{het[0]:.1f} on {het[1]} df, p = {het[2]:.1e}): consider a population "
                   f"fit (alsjax fit {POPULATION_FLAG})")
    return tuple(out)
