"""The fit problem: what is estimated, on which coordinates, within which bounds, and the
objective every optimiser minimises.

Estimated quantities live on their stored scale (`_transforms.py`: log, logit or plain,
as in `Params`), with estimated noise SDs as log SDs and fitted time shifts in days.
Bounds are a smooth reparametrisation, stored = lower + (upper - lower) * sigmoid(z),
never a clip, and every optimiser works on the unbounded z.

Gradients are forward mode (`diffrax.ForwardMode`): with a handful of parameters that is
both faster and quicker to compile than reverse mode.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ._cohort import check_method
from ._dataset import Data, unlabelled
from ._diagnostics import AT_BOUND_FRACTION
from ._errors import ALSJaxError
from ._likelihood import likelihood_terms, likelihood_terms_of_sets, residuals
from ._noise import NoiseSpec, default_noise_sd, noise_models
from ._observables import OBSERVABLE_NAMES
from ._params import PARAMETER_NAMES, Params, parameter_transform, unknown_parameter
from ._programs import to_device
from ._simulate import DEFAULT_ATOL, DEFAULT_RTOL
from ._sobol import sobol
from ._transforms import LOG, PLAIN, Plain, Transform

OPTIMISERS: tuple[str, ...] = ("lm", "lbfgs", "adam")
DEFAULT_OPTIMISER = "lm"
"""Levenberg-Marquardt: fastest on the shipped problems (benchmarks/bench_fit.py)."""

BOUND_FACTOR = 10.0  # default bounds: preset x/÷ 10
NOISE_BOUND_FACTOR = 100.0
SHIFT_BOUND = 1825.0  # days either side of the model's own alignment
FORWARD = diffrax.ForwardMode()


class Problem(eqx.Module):
    """Everything the compiled optimiser needs; static fields select the program."""

    data: Data
    lower: Float[Array, " P"]
    upper: Float[Array, " P"]
    prior_mean: Float[Array, " P"]
    prior_sd: Float[Array, " P"]
    has_prior: Bool[Array, " P"]
    prior_on_log: Bool[Array, " P"]  # plain-stored: the prior is normal on the value's log
    noise_sd: Float[Array, " K"]  # used for observables whose SD is not estimated
    noise_rows: Bool[Array, "n K"]  # which residuals inform each estimated noise SD
    n_noise_rows: Float[Array, " K"]
    names: tuple[str, ...] = eqx.field(static=True)  # model parameters estimated
    noise_obs: tuple[int, ...] = eqx.field(static=True)  # observables with estimated SD
    # Subjects with a fitted shift: one group per shift, its subjects sharing it (the arms
    # of one trial, one origin); the first of each group places the starts' shifts.
    shift_groups: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    noise: tuple[str, ...] = eqx.field(static=True)  # each observable's model (hashable)
    optimiser: str = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    method: str = eqx.field(static=True, default="auto")  # how the cohort is solved
    # The ODE solver's (rtol, atol): part of the program, like `max_steps`.
    tolerances: tuple[float, float] = eqx.field(static=True,
                                                default=(DEFAULT_RTOL, DEFAULT_ATOL))

    @property
    def n_model(self) -> int:
        return len(self.names)

    @property
    def fit_shifts(self) -> bool:
        return bool(self.shift_groups)

    @property
    def n_shift(self) -> int:
        return len(self.shift_groups)

    @property
    def shift_subjects(self) -> tuple[int, ...]:
        """The subject that places each fitted shift's starts (its group's first)."""
        return tuple(g[0] for g in self.shift_groups)

    @property
    def n_fit(self) -> int:
        """Coordinates a least-squares solver moves (noise SDs are closed-form for LM)."""
        return self.n_model + self.n_shift

    @property
    def n_residuals(self) -> int:
        # an event slot has two rows: its own, and its day's normaliser (`_likelihood`)
        events = 2 * self.data.event_mask.size if self.data.any_events else 0
        return self.noise_rows.shape[0] + events + self.size

    @property
    def size(self) -> int:
        return self.n_fit + len(self.noise_obs)


# --- coordinates ----------------------------------------------------------------------


def transform_of(name: str) -> Transform:
    """The storage of an estimated quantity: a parameter's own, log for `sigma:<obs>`
    (noise SDs), plain for `shift:<subject>` (days)."""
    if name.startswith("sigma:"):
        return LOG
    if name.startswith("shift:"):
        return PLAIN
    return parameter_transform(name)


def physical_value(name: str, stored: float) -> float:
    """An estimated quantity's stored value in its physical units."""
    return float(transform_of(name).to_physical(stored))


def to_stored(z: Array, pb: Problem) -> Array:
    return pb.lower + (pb.upper - pb.lower) * jax.nn.sigmoid(z)


def to_z(theta: Array, pb: Problem) -> Array:
    u = (theta - pb.lower) / (pb.upper - pb.lower)
    u = jnp.clip(u, 1e-9, 1 - 1e-9)
    return jnp.log(u) - jnp.log1p(-u)


# The bounded coordinates z map to stored values through a logistic, whose slope vanishes
# at either end: an optimiser can stop at a bound where the objective still falls away
# from it, on a gradient the map has flattened (a one-start fit of the default problem
# stopped at nfl_release's lower bound, -log posterior 218.1 against 165.7 inside). A
# point at a bound is therefore run on from inside (`inside_bounds`), 5 % of the range in.
RETRY_INSIDE_Z = math.log(0.95 / 0.05)
AT_BOUND_Z = math.log((1.0 - AT_BOUND_FRACTION) / AT_BOUND_FRACTION)


def inside_bounds(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points `z` (the last axis their coordinates) with each coordinate at a bound
    (`AT_BOUND_FRACTION`) moved `RETRY_INSIDE_Z` in from it, and which points had one.
    An optimum that lies at the bound is found again from there; one inside is reached
    instead of the flattened stop."""
    at = np.abs(z) > AT_BOUND_Z
    return np.where(at, np.sign(z) * RETRY_INSIDE_Z, z), at.any(axis=-1)


def improves(new: np.ndarray, old: np.ndarray, strictly: bool) -> np.ndarray:
    """Whether a continued run's objective `new` replaces `old` (elementwise): finite and
    no higher, or with `strictly` lower by more than rounding (1e-9 relative), so that a
    retry from inside a bound that finds the same optimum keeps the first point."""
    margin = 1e-9 * (1.0 + np.abs(old)) if strictly else 0.0
    return np.isfinite(new) & (new <= old - margin)


def unpack(theta: Array, pb: Problem) -> tuple[Params, Array, Array | None]:
    """Stored vector -> (Params batched over subjects, noise SD per observable, shifts)."""
    S = pb.data.n_subjects
    values = {n: jnp.broadcast_to(theta[i], (S,)) for i, n in enumerate(pb.names)}
    params = dataclasses.replace(pb.data.base, **values)
    shift = None
    if pb.fit_shifts:
        shift = theta[pb.n_model:pb.n_fit]
        if any(len(g) > 1 for g in pb.shift_groups):  # shared: each subject its group's
            shift = shift[jnp.asarray([k for k, g in enumerate(pb.shift_groups) for _ in g])]
        members = [i for g in pb.shift_groups for i in g]
        if len(members) < S:  # the other subjects keep their alignment (offset 0)
            shift = jnp.zeros(S, theta.dtype).at[jnp.asarray(members)].set(shift)
    sd = pb.noise_sd
    if pb.noise_obs:
        sd = sd.at[jnp.asarray(pb.noise_obs)].set(jnp.exp(theta[pb.n_fit:]))
    return params, sd, shift


def prior_residuals(theta: Array, pb: Problem) -> Array:
    """(x - median) / SD of each prior, x the stored value or, for a plain-stored parameter
    (a genotype drive), the log of it: every prior is log-normal on the physical value
    (logit-normal for a logit-stored fraction)."""
    logged = jnp.log(jnp.maximum(theta, jnp.finfo(theta.dtype).tiny))
    x = jnp.where(pb.prior_on_log, logged, theta)
    return jnp.where(pb.has_prior, (x - pb.prior_mean) / pb.prior_sd, 0.0)


def prior_table(pb: Problem) -> dict[str, tuple[float, float]]:
    """The problem's priors as given: name -> (median, GSD) on the physical scale."""
    has, on_log, mean, sd = (np.asarray(a) for a in (pb.has_prior, pb.prior_on_log,
                                                     pb.prior_mean, pb.prior_sd))
    return {name: (math.exp(mean[i]) if on_log[i]
                   else float(transform_of(name).to_physical(mean[i])), math.exp(sd[i]))
            for i, name in enumerate(pb.names) if has[i]}


def terms(theta: Array, pb: Problem, adjoint=None) -> tuple[Array, Array, Array]:
    """Weighted residuals (data, then priors), normaliser and success at `theta`."""
    params, sd, shift = unpack(theta, pb)
    res, norm, ok = likelihood_terms(params, pb.data, noise=pb.noise, sigma=sd,
                                     time_shift=shift, adjoint=adjoint, method=pb.method,
                                     tolerances=pb.tolerances)
    return jnp.concatenate([res, prior_residuals(theta, pb)]), norm, ok


def terms_of_sets(thetas: Array, pb: Problem, adjoint=None) -> tuple[Array, Array, Array]:
    """`terms` of each row of `thetas` (G, P), their G x S solves one cohort
    (`likelihood_terms_of_sets`; for a problem whose cohort
    `_cohort.solves_by_vmap`)."""
    params, sd, shift = jax.vmap(unpack, in_axes=(0, None))(thetas, pb)
    res, norm, ok = likelihood_terms_of_sets(params, pb.data, noise=pb.noise, sigma=sd,
                                             time_shift=shift, adjoint=adjoint,
                                             tolerances=pb.tolerances)
    prior = jax.vmap(prior_residuals, in_axes=(0, None))(thetas, pb)
    return jnp.concatenate([res, prior], axis=1), norm, ok


def neg_log_posterior(theta: Array, pb: Problem, adjoint=None) -> Array:
    """-log p(data | theta) - log prior(theta), theta on the stored scale (+inf on failure).
    Priors are log-normal on physical values (`prior_residuals`)."""
    r, norm, ok = terms(theta, pb, adjoint)
    value = 0.5 * jnp.sum(r**2) + norm
    return jnp.where(ok & jnp.isfinite(value), value, jnp.inf)


def fit_residuals(theta_fit: Array, sd_theta: Array, pb: Problem) -> Array:
    """Data + prior residuals with noise SDs held at `sd_theta` (log SDs); a failed solve
    gives large finite residuals."""
    theta = jnp.concatenate([theta_fit, sd_theta])
    params, sd, shift = unpack(theta, pb)
    res = residuals(params, pb.data, noise=pb.noise, sigma=sd, time_shift=shift,
                    adjoint=FORWARD, method=pb.method, tolerances=pb.tolerances)
    return jnp.concatenate([res, prior_residuals(theta, pb)])


# --- objective with a forward-mode gradient ---------------------------------------------


@eqx.filter_custom_vjp
def _objective(z, pb, fixed, fixed_z):
    zz = jnp.where(fixed, fixed_z, z)
    return neg_log_posterior(to_stored(zz, pb), pb, FORWARD)


@_objective.def_fwd
def _objective_fwd(perturbed, z, pb, fixed, fixed_z):
    del perturbed

    def f(z):
        zz = jnp.where(fixed, fixed_z, z)
        return neg_log_posterior(to_stored(zz, pb), pb, FORWARD)

    basis = jnp.eye(z.shape[0], dtype=z.dtype)
    values, grads = jax.vmap(lambda v: jax.jvp(f, (z,), (v,)))(basis)
    value = values[0]
    return value, jnp.where(jnp.isfinite(value), grads, 0.0)


@_objective.def_bwd
def _objective_bwd(grad, g_out, perturbed, z, pb, fixed, fixed_z):
    del perturbed, z, pb, fixed_z
    return jnp.where(fixed, 0.0, g_out * grad)


def objective(z: Array, pb: Problem, fixed=None, fixed_z=None) -> Array:
    """The fit's objective on the unbounded z scale; `jax.grad` of it is forward mode.
    Failed solves give a huge finite value so line searches step back."""
    fixed = jnp.zeros(z.shape, bool) if fixed is None else fixed
    fixed_z = jnp.zeros_like(z) if fixed_z is None else fixed_z
    v = _objective(z, pb, fixed, fixed_z)
    return jnp.where(jnp.isfinite(v), v, 1e20)


# --- problem set-up -----------------------------------------------------------------------


def _stored(name: str, value: float, where: str) -> float:
    transform = transform_of(name)
    transform.check(float(value), f"{where}: {name}")
    return float(transform.to_stored(float(value)))


def prior_on_stored(name: str, median: float, gsd: float) -> tuple[float, float]:
    """A prior given as (median, GSD) on the physical value, as the normal (mean, SD) it is
    on the coordinate `prior_residuals` measures: the stored value, or its log for a
    plain-stored parameter (a genotype drive, a plain fraction). One line for a GSD not
    above 1 or a median outside the parameter's range."""
    if not gsd > 1:
        raise ALSJaxError(f"prior of {name}: geometric SD must be > 1, got {gsd:g}")
    stored = _stored(name, float(median), f"prior of {name}")
    plain = isinstance(transform_of(name), Plain)
    if plain and not stored > 0:
        raise ALSJaxError(f"prior of {name}: median must be > 0 (the prior is log-normal), "
                          f"got {median:g}")
    return (math.log(stored) if plain else stored), math.log(float(gsd))


def make_problem(
    data: Data,
    estimate: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    noise: NoiseSpec = None,
    optimiser: str = DEFAULT_OPTIMISER,
    max_steps: int = 200,
    fit_shifts: bool | Sequence[str | Sequence[str]] = False,
    estimate_noise: bool = True,
    method: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
) -> tuple[Problem, tuple[str, ...], Array]:
    """Validate the choices and build the Problem; returns it, the names of all estimated
    quantities (parameters, then `shift:<subject>`, then `sigma:<observable>`) and the
    preset (nominal) stored vector. Every problem is one `ALSJaxError` line.

    `fit_shifts`: True for a time shift per subject, or the subjects that get one (the
    others keep offset 0: say, a survival table whose day 0 is onset beside trial arms
    whose day 0 is randomisation); an item that is a list of subjects gives them one
    shared shift, `shift:<a>+<b>` (the arms of one trial, whose origin is one day).
    `rtol`, `atol`: the ODE solver's tolerances (None: `simulate`'s defaults)."""
    bounds, priors = dict(bounds or {}), dict(priors or {})
    if optimiser not in OPTIMISERS:
        raise ALSJaxError(f"unknown optimiser {optimiser!r}; choose from {', '.join(OPTIMISERS)}")
    check_method(method)
    models = noise_models(noise)
    if not estimate:
        raise ALSJaxError("estimate: name at least one parameter to estimate")
    for n in estimate:
        if n not in PARAMETER_NAMES:
            raise ALSJaxError(f"estimate: {unknown_parameter(n)}")
    if len(set(estimate)) != len(estimate):
        raise ALSJaxError("estimate: a parameter is named twice")
    if int(max_steps) < 1:
        raise ALSJaxError(f"max_steps must be >= 1, got {max_steps}")
    tolerances = (DEFAULT_RTOL if rtol is None else rtol, DEFAULT_ATOL if atol is None else atol)
    for key, tol in zip(("rtol", "atol"), tolerances, strict=True):
        if isinstance(tol, bool) or not (isinstance(tol, int | float) and math.isfinite(tol)
                                         and tol > 0):
            raise ALSJaxError(f"{key} must be a finite number > 0, got {tol!r}")
    # Noise SDs: one per observable that has rows without their own sigma.
    mask = np.asarray(data.mask)
    free = mask & np.isnan(np.asarray(data.sigma)) & ~np.asarray(data.summary) \
        & ~np.asarray(data.censored)
    obs = np.asarray(data.obs)
    noise_obs = tuple(k for k in range(len(OBSERVABLE_NAMES))
                      if estimate_noise and (free & (obs == k)).any())
    rows = np.zeros((mask.size, len(OBSERVABLE_NAMES)), bool)
    for k in noise_obs:
        rows[:, k] = (free & (obs == k)).ravel()
    sd0 = np.asarray(default_noise_sd(models))
    names_all = list(estimate)
    nominal, lo, hi, pm, ps, hp, on_log = [], [], [], [], [], [], []
    for n in estimate:
        transform = transform_of(n)
        s = float(np.asarray(getattr(data.base, n))[0])
        nominal.append(s)
        if n in bounds:
            b = bounds.pop(n)
            low, high = (_stored(n, float(v), f"bounds of {n}") for v in b)
            if not low < high:
                raise ALSJaxError(f"bounds of {n}: lower {b[0]:g} must be below upper {b[1]:g}")
        else:
            low, high = transform.default_bounds(s, BOUND_FACTOR)
        lo.append(low), hi.append(high)
        if n in priors:
            mean, sd = prior_on_stored(n, *priors.pop(n))
            pm.append(mean), ps.append(sd), hp.append(True)
        else:
            pm.append(0.0), ps.append(1.0), hp.append(False)
        on_log.append(isinstance(transform, Plain))
    shift_groups = _shift_groups(fit_shifts, data)
    for g in shift_groups:
        names_all.append("shift:" + "+".join(data.subjects[i] for i in sorted(g)))
        nominal.append(0.0), lo.append(-SHIFT_BOUND), hi.append(SHIFT_BOUND)
        pm.append(0.0), ps.append(1.0), hp.append(False), on_log.append(False)
    for k in noise_obs:
        names_all.append(f"sigma:{OBSERVABLE_NAMES[k]}")
        s = math.log(sd0[k])
        nominal.append(s)
        lo.append(s - math.log(NOISE_BOUND_FACTOR)), hi.append(s + math.log(NOISE_BOUND_FACTOR))
        pm.append(0.0), ps.append(1.0), hp.append(False), on_log.append(False)
    for leftover, what in ((bounds, "bounds"), (priors, "priors")):
        for n in leftover:
            raise ALSJaxError(f"{what}: {n!r} is not among the estimated parameters "
                              f"({', '.join(estimate)})")
    # Labels off the data so problems of the same shape share one compilation.
    anon = unlabelled(data, tuple(str(i) for i in range(data.n_subjects)))
    f = jnp.result_type(float)

    pb = Problem(
        data=anon, lower=to_device(lo, f), upper=to_device(hi, f),
        prior_mean=to_device(pm, f), prior_sd=to_device(ps, f), has_prior=to_device(hp),
        prior_on_log=to_device(on_log),
        noise_sd=to_device(sd0, f), noise_rows=to_device(rows),
        n_noise_rows=to_device(rows.sum(0), f),
        names=tuple(estimate), noise_obs=noise_obs, shift_groups=shift_groups,
        noise=models, optimiser=optimiser, max_steps=int(max_steps), method=method,
        tolerances=tuple(float(t) for t in tolerances),
    )
    return pb, tuple(names_all), to_device(nominal, f)


def _shift_groups(fit_shifts: bool | Sequence[str | Sequence[str]], data: Data
                  ) -> tuple[tuple[int, ...], ...]:
    """The subjects of each fitted shift (`make_problem`), in the order of their first
    subject; within a group a subject with ALSFRS-R rows first, as it places the starts."""
    subjects = data.subjects
    if isinstance(fit_shifts, bool):
        return tuple((i,) for i in range(len(subjects))) if fit_shifts else ()
    if isinstance(fit_shifts, str):
        fit_shifts = (fit_shifts,)
    items = [(n,) if isinstance(n, str) else tuple(n) for n in fit_shifts]
    if not items or not all(items):
        raise ALSJaxError("fit_shifts: name at least one subject in each item (or give true "
                          "or false)")
    index = {s: i for i, s in enumerate(subjects)}
    names = [n for item in items for n in item]
    for n in names:
        if not isinstance(n, str) or n not in index:
            shown = ", ".join(list(subjects)[:10]) + (", ..." if len(subjects) > 10 else "")
            raise ALSJaxError(f"fit_shifts: no subject {n!r} in the data (subjects: {shown})")
    if len(set(names)) != len(names):
        raise ALSJaxError("fit_shifts: a subject is named twice")
    frs = np.asarray(data.mask) & (np.asarray(data.obs) == OBSERVABLE_NAMES.index("alsfrs_r"))
    groups = [sorted((index[n] for n in item), key=lambda i: (not frs[i].any(), i))
              for item in items]
    return tuple(sorted((tuple(g) for g in groups), key=min))


def sobol_starts(n: int, pb: Problem, seed: int) -> np.ndarray:
    """`n` scrambled-Sobol starts, uniform on the stored scale within the bounds (z).

    With fitted shifts, each subject's shift is then set so that its first ALSFRS-R
    value lies on the start's own model course (`_place_shifts`)."""
    u = np.clip(sobol(n, pb.size, seed), 0.01, 0.99)
    z = np.log(u) - np.log1p(-u)
    return _place_shifts(z, pb) if pb.fit_shifts else z


SHIFT_GRID_DAYS = 20 * 365.25  # model days searched for a subject's first ALSFRS-R value
SHIFT_GRID_POINTS = 512


@jax.jit
def _start_courses(z: Array, pb: Problem) -> tuple[Array, Array]:
    """For every start (rows of `z`): each shifted subject's model day of data day 0
    without a fitted offset (`shifts`), and its untreated ALSFRS-R on `SHIFT_GRID_POINTS`
    days; every start's shifted subjects in one batched solve."""
    from ._batch import simulate_batch
    from ._likelihood import shifts

    params = jax.vmap(lambda zk: unpack(to_stored(zk, pb), pb)[0])(z)  # leaves (K, S)
    who = jnp.asarray(pb.shift_subjects)
    K, n = z.shape[0], pb.n_shift
    flat = jax.tree.map(lambda a: a[:, who].reshape((K * n,) + a.shape[2:]), params)
    grid = jnp.linspace(0.0, SHIFT_GRID_DAYS, SHIFT_GRID_POINTS)
    course = simulate_batch(flat, grid).observables["alsfrs_r"].reshape(K, n, -1)
    return jax.vmap(lambda p: shifts(p, pb.data))(params)[:, who], course


def _place_shifts(z: np.ndarray, pb: Problem) -> np.ndarray:
    """Starts `z` with each shifted subject's shift placing its first ALSFRS-R value on
    the start's model course: the offset at which the untreated model reaches that value
    on the day of the measurement (the first model day at or below it, interpolated).

    Uniform shifts over +-`SHIFT_BOUND` days mostly start an arm years before the model's
    onset, on ALSFRS-R 48 where the gradient in the shift is zero: 1 of 32 starts of the
    natural-history recipe reached its optimum so (`docs/validation.md`, item 8).
    Subjects without ALSFRS-R rows, and starts whose model cannot be solved, keep their
    Sobol shifts."""
    who = np.asarray(pb.shift_subjects)
    obs, mask, times, values = (np.asarray(a)[who] for a in (
        pb.data.obs, pb.data.mask, pb.data.times, pb.data.values))
    first = mask & (obs == OBSERVABLE_NAMES.index("alsfrs_r"))
    j = np.argmax(first, axis=1)
    rows = np.arange(len(j))
    t1, y1 = times[rows, j], values[rows, j]  # (shifted subjects,)
    z = np.array(z, dtype=float)
    base, course = (np.asarray(a) for a in _start_courses(jnp.asarray(z), pb))
    grid = np.linspace(0.0, SHIFT_GRID_DAYS, SHIFT_GRID_POINTS)
    below = course <= y1[None, :, None]  # (K, shifted, G)
    i = np.argmax(below, axis=-1)  # first grid day at or below the value (0 if none)
    prev = np.maximum(i - 1, 0)
    c_i = np.take_along_axis(course, i[..., None], -1)[..., 0]
    c_prev = np.take_along_axis(course, prev[..., None], -1)[..., 0]
    drop = c_prev - c_i
    frac = np.where(drop > 0, (c_prev - y1) / np.where(drop > 0, drop, 1.0), 1.0)
    day = np.where(i > 0, grid[prev] + frac * (grid[i] - grid[prev]), grid[0])
    day = np.where(below.any(axis=-1), day, grid[-1])  # never that low: its horizon
    cols = pb.n_model + np.arange(pb.n_shift)
    lo, hi = np.asarray(pb.lower)[cols], np.asarray(pb.upper)[cols]
    offset = np.clip(day - t1 - base, 0.98 * lo, 0.98 * hi)
    u = (offset - lo) / (hi - lo)
    place = first.any(axis=1)[None, :] & np.all(np.isfinite(course), axis=-1)
    z[:, cols] = np.where(place, np.log(u) - np.log1p(-u), z[:, cols])
    return z
