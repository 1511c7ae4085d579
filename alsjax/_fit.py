"""The fit engine: multistart maximum likelihood (or MAP) of chosen parameters.

Estimated quantities live on their stored scale (log, logit or plain, as in `Params`),
with estimated noise SDs as log SDs and fitted time shifts in days. Bounds are a smooth
reparametrisation, stored = lower + (upper - lower) * sigmoid(z), never a clip, and every
optimiser works on the unbounded z. All starts run as one vmapped batch inside one
compiled program; a start whose solves fail is reported, not raised.

Gradients and Jacobians are forward mode (`diffrax.ForwardMode`): with a handful of
parameters that is both faster and quicker to compile than reverse mode.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float

from ._errors import ALSJaxError
from ._likelihood import Data, NoiseSpec, _terms, default_noise_sd, noise_models, residuals
from ._observables import OBSERVABLE_NAMES
from ._params import _TRANSFORM, PARAMETER_NAMES, Params, _unknown_message, to_physical
from ._params import _to_stored as param_to_stored

OPTIMISERS: tuple[str, ...] = ("lm", "lbfgs", "adam")
DEFAULT_OPTIMISER = "lm"
"""Levenberg-Marquardt: fastest on the shipped problems (benchmarks/bench_fit.py)."""

_BOUND_FACTOR = 10.0  # default bounds: preset value x/÷ 10
_NOISE_BOUND_FACTOR = 100.0
_SHIFT_BOUND = 1825.0  # days either side of the model's own alignment
_NOISE_ROUNDS = 4  # LM: alternate least squares and closed-form noise SDs
_FORWARD = diffrax.ForwardMode()

# Trace counters (incremented only while tracing): tests check one compilation.
TRACES: dict[str, int] = {"step": 0, "run": 0}
_PROGRESS: list[Any] = [None]  # the live progress callback, if any


class Problem(eqx.Module):
    """Everything the compiled optimiser needs; static fields select the program."""

    data: Data
    lower: Float[Array, " P"]
    upper: Float[Array, " P"]
    prior_mean: Float[Array, " P"]
    prior_sd: Float[Array, " P"]
    has_prior: Bool[Array, " P"]
    noise_sd: Float[Array, " K"]  # used for observables whose SD is not estimated
    noise_rows: Bool[Array, "n K"]  # which residuals inform each estimated noise SD
    n_noise_rows: Float[Array, " K"]
    names: tuple[str, ...] = eqx.field(static=True)  # model parameters estimated
    noise_obs: tuple[int, ...] = eqx.field(static=True)  # observables with estimated SD
    fit_shifts: bool = eqx.field(static=True)
    noise: tuple[str, ...] = eqx.field(static=True)  # each observable's model (hashable)
    optimiser: str = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    @property
    def n_model(self) -> int:
        return len(self.names)

    @property
    def n_shift(self) -> int:
        return self.data.n_subjects if self.fit_shifts else 0

    @property
    def n_fit(self) -> int:
        """Coordinates a least-squares solver moves (noise SDs are closed-form for LM)."""
        return self.n_model + self.n_shift

    @property
    def n_residuals(self) -> int:
        events = self.data.event_mask.size if self.data.any_events else 0
        return self.noise_rows.shape[0] + events + self.size

    @property
    def size(self) -> int:
        return self.n_fit + len(self.noise_obs)


# --- coordinates ----------------------------------------------------------------------


def to_stored(z: Array, pb: Problem) -> Array:
    return pb.lower + (pb.upper - pb.lower) * jax.nn.sigmoid(z)


def to_z(theta: Array, pb: Problem) -> Array:
    u = (theta - pb.lower) / (pb.upper - pb.lower)
    u = jnp.clip(u, 1e-9, 1 - 1e-9)
    return jnp.log(u) - jnp.log1p(-u)


def unpack(theta: Array, pb: Problem) -> tuple[Params, Array, Array | None]:
    """Stored vector -> (Params batched over subjects, noise SD per observable, shifts)."""
    S = pb.data.n_subjects
    values = {n: jnp.broadcast_to(theta[i], (S,)) for i, n in enumerate(pb.names)}
    params = dataclasses.replace(pb.data.base, **values)
    shift = theta[pb.n_model:pb.n_fit] if pb.fit_shifts else None
    sd = pb.noise_sd
    if pb.noise_obs:
        sd = sd.at[jnp.asarray(pb.noise_obs)].set(jnp.exp(theta[pb.n_fit:]))
    return params, sd, shift


def _prior_residuals(theta: Array, pb: Problem) -> Array:
    return jnp.where(pb.has_prior, (theta - pb.prior_mean) / pb.prior_sd, 0.0)


def neg_log_posterior(theta: Array, pb: Problem, adjoint=None) -> Array:
    """-log p(data | theta) - log prior(theta), theta on the stored scale (+inf on failure).
    Priors are normal on the stored scale (log-normal on physical values)."""
    params, sd, shift = unpack(theta, pb)
    res, norm, ok = _terms(params, pb.data, noise=pb.noise, sigma=sd, time_shift=shift,
                           adjoint=adjoint)
    value = 0.5 * jnp.sum(res**2) + norm + 0.5 * jnp.sum(_prior_residuals(theta, pb) ** 2)
    return jnp.where(ok & jnp.isfinite(value), value, jnp.inf)


def _fit_residuals(theta_fit: Array, sd_theta: Array, pb: Problem) -> Array:
    """Data + prior residuals with noise SDs held at `sd_theta` (log SDs)."""
    theta = jnp.concatenate([theta_fit, sd_theta])
    params, sd, shift = unpack(theta, pb)
    res = residuals(params, pb.data, noise=pb.noise, sigma=sd, time_shift=shift,
                    adjoint=_FORWARD)
    return jnp.concatenate([res, _prior_residuals(theta, pb)])


# --- objective with a forward-mode gradient ---------------------------------------------


@eqx.filter_custom_vjp
def _objective(z, pb, fixed, fixed_z):
    zz = jnp.where(fixed, fixed_z, z)
    return neg_log_posterior(to_stored(zz, pb), pb, _FORWARD)


@_objective.def_fwd
def _objective_fwd(perturbed, z, pb, fixed, fixed_z):
    del perturbed

    def f(z):
        zz = jnp.where(fixed, fixed_z, z)
        return neg_log_posterior(to_stored(zz, pb), pb, _FORWARD)

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


# --- one start, each optimiser ------------------------------------------------------------


def _tick(start, n):
    cb = _PROGRESS[0]
    if cb is not None:
        cb(int(start), int(n))


def _scalar_run(z0, pb: Problem, fixed, fixed_z, start, lr_scale):
    """L-BFGS (zoom line search) or Adam (cosine schedule, clipped) in a while loop.
    The loop ends on an evaluated point, so the objective it returns is that of `z`."""
    if pb.optimiser == "lbfgs":
        opt = optax.lbfgs(memory_size=10)
    else:
        schedule = optax.cosine_decay_schedule(0.1, pb.max_steps, alpha=0.01)
        opt = optax.chain(optax.clip_by_global_norm(10.0),
                          optax.scale_by_adam(), optax.scale_by_schedule(schedule),
                          optax.scale(-1.0))
    f = lambda z: objective(z, pb, fixed, fixed_z)  # noqa: E731
    vg = optax.value_and_grad_from_state(f) if pb.optimiser == "lbfgs" else jax.value_and_grad(f)

    def step(carry):
        TRACES["step"] += 1
        z, state, n, _, prev, _ = carry
        if pb.optimiser == "lbfgs":
            value, grad = vg(z, state=state)
            updates, new_state = opt.update(grad, state, z, value=value, grad=grad,
                                            value_fn=f)
        else:
            value, grad = vg(z)
            updates, new_state = opt.update(grad, state, z)
            updates = jax.tree.map(lambda u: lr_scale * u, updates)
        gnorm = jnp.linalg.norm(jnp.where(fixed, 0.0, grad))
        small_change = jnp.abs(prev - value) <= 1e-10 * (1.0 + jnp.abs(value))
        done = (gnorm < 1e-6) | (small_change & (pb.optimiser == "lbfgs")) | (value >= 1e20)
        stop = done | (n + 1 >= pb.max_steps)
        z = jnp.where(stop, z, optax.apply_updates(z, updates))
        state = jax.tree.map(lambda a, b: jnp.where(stop, a, b), state, new_state)
        jax.debug.callback(_tick, start, n + 1)
        return z, state, n + 1, stop, value, gnorm, done

    def cond(carry):
        return ~carry[3]

    init = (z0, opt.init(z0), jnp.asarray(0), jnp.asarray(False), jnp.asarray(jnp.inf),
            jnp.asarray(jnp.inf), jnp.asarray(False))
    z, _, n, _, value, gnorm, done = jax.lax.while_loop(
        cond, lambda c: step(c[:6]), init)
    converged = done & (value < 1e20)
    if pb.optimiser == "adam":
        # Adam rarely reaches a gradient tolerance; a small final gradient counts.
        converged = converged | ((gnorm < 1e-2 * (1.0 + jnp.abs(value))) & (value < 1e20))
    no_jac = jnp.full((pb.n_residuals, pb.n_fit), jnp.nan, z.dtype)
    return jnp.where(fixed, fixed_z, z), value, converged, n, no_jac


def _lm_run(z0, pb: Problem, fixed, fixed_z, start, lr_scale):
    """Levenberg-Marquardt on the weighted residuals, one forward-mode Jacobian per step.

    Each step evaluates residuals and Jacobian at a trial point (the only solve in the
    loop, so the program compiles one instance of the vector field's JVP), sets the
    estimated noise SDs to their closed-form maximum-likelihood values there (rescaling
    those rows, which are linear in 1/SD), and accepts the point if the objective fell;
    the closed form is the same for each observable whatever its noise model: a Gaussian
    row's residual is (y - f) / SD and a log-normal row's (log y - log f) / CV, both
    e / s_k with a normaliser log s_k, so s_k^2 = mean(e^2) over that observable's rows;
    the damping shrinks on success and grows on failure. Also returns the Jacobian at the
    optimum with respect to the stored values, which `laplace` turns into the Fisher
    information without another compilation.
    """
    del lr_scale
    nf = pb.n_fit
    fixed_fit, fixed_zfit = fixed[:nf], fixed_z[:nf]
    n_res = pb.noise_rows.shape[0]
    k = jnp.asarray(pb.noise_obs, int)
    n_k = pb.n_noise_rows[k]

    def weighted(zf, sd_theta):
        TRACES["step"] += 1
        zf = jnp.where(fixed_fit, fixed_zfit, zf)
        theta_fit = to_stored(jnp.concatenate([zf, jnp.zeros(pb.size - nf)]), pb)[:nf]
        theta = jnp.concatenate([theta_fit, sd_theta])
        params, sd, shift = unpack(theta, pb)
        res, norm, ok = _terms(params, pb.data, noise=pb.noise, sigma=sd, time_shift=shift,
                               adjoint=_FORWARD)
        r = jnp.concatenate([res, _prior_residuals(theta, pb)])
        return r, (r, norm, ok)

    jac = jax.jacfwd(weighted, has_aux=True)

    def evaluate(zf, sd_theta):
        J, (r, norm, ok) = jac(zf, sd_theta)
        if pb.noise_obs:
            # Closed-form SDs at this point; noise rows scale as 1/SD.
            ms = jnp.sum(jnp.where(pb.noise_rows, r[:n_res, None] ** 2, 0.0), axis=0)[k]
            new = sd_theta + 0.5 * jnp.log(jnp.maximum(ms / jnp.maximum(n_k, 1.0), 1e-300))
            lo, hi = pb.lower[nf:], pb.upper[nf:]
            new = jnp.clip(new, lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo))
            new = jnp.where(ok & jnp.isfinite(new), new, sd_theta)
            factor = jnp.exp(sd_theta - new)
            row = jnp.sum(jnp.where(pb.noise_rows[:, k], factor, 0.0), axis=1)
            row = jnp.where(jnp.any(pb.noise_rows[:, k], axis=1), row, 1.0)
            row = jnp.concatenate([row, jnp.ones(r.shape[0] - n_res)])
            r, J = r * row, J * row[:, None]
            norm = norm + jnp.sum(n_k * (new - sd_theta))
            sd_theta = new
        value = 0.5 * jnp.sum(r**2) + norm
        good = ok & jnp.isfinite(value) & jnp.all(jnp.isfinite(J))
        return r, jnp.where(good, J, 0.0), jnp.where(good, value, jnp.inf), sd_theta

    def step(c):
        zc, rc, Jc, vc, sdc, zt, sdt, lam, n, _, conv = c
        jax.debug.callback(_tick, start, n + 1)
        r, J, v, sd = evaluate(zt, sdt)
        accept = v < vc
        small = accept & (vc - v <= 1e-10 * (1.0 + jnp.abs(v)))
        zc, rc, Jc, sdc = jax.tree.map(lambda a, b: jnp.where(accept, a, b),
                                       (zt, r, J, sd), (zc, rc, Jc, sdc))
        v_new = jnp.where(accept, v, vc)
        lam = jnp.where(accept, lam / 3.0, lam * 4.0)
        g = Jc.T @ rc
        A = Jc.T @ Jc + lam * (jnp.diag(jnp.diag(Jc.T @ Jc)) + 1e-9 * jnp.eye(nf))
        delta = -jnp.linalg.solve(A, g)
        delta = jnp.where(fixed_fit | ~jnp.isfinite(delta), 0.0, delta)
        gnorm = jnp.max(jnp.abs(g))
        conv = jnp.isfinite(v_new) & (small | (gnorm < 1e-8) | (jnp.max(jnp.abs(delta)) < 1e-10))
        stop = conv | ~jnp.isfinite(v_new) | (n + 1 >= pb.max_steps) | (lam > 1e12)
        # Under vmap a stopped start keeps evaluating its last trial point until every
        # start stops; park it where a solve is cheap (its optimum, or the middle of the
        # bounds when it never had a good point) instead of, say, a stiff failing one.
        # Its results are frozen by then, so this only saves time.
        zt = jnp.where(stop, jnp.where(jnp.isfinite(v_new), zc, 0.0), zc + delta)
        return zc, rc, Jc, v_new, sdc, zt, sdc, lam, n + 1, stop, conv

    sd0 = to_stored(z0, pb)[nf:]
    n_out = pb.n_residuals
    zf0 = jnp.where(fixed_fit, fixed_zfit, z0[:nf])
    init = (zf0, jnp.zeros(n_out), jnp.zeros((n_out, nf)), jnp.asarray(jnp.inf), sd0, zf0,
            sd0, jnp.asarray(1e-3), jnp.asarray(0), jnp.asarray(False), jnp.asarray(False))
    out = jax.lax.while_loop(lambda c: ~c[9], step, init)
    zf, _, J, value, sd_theta, _, _, _, n, _, conv = out
    z = jnp.concatenate([zf, to_z(jnp.concatenate([jnp.zeros(nf), sd_theta]), pb)[nf:]])
    z = jnp.where(fixed, fixed_z, z)
    # Jacobian with respect to the stored values: divide by d stored / d z.
    w = (pb.upper - pb.lower) * jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)
    J_stored = J / w[None, :nf]
    value = jnp.where(jnp.isfinite(value), value, 1e20)
    return z, value, conv & (value < 1e20), n, J_stored


def _run_batch(z0, pb: Problem, fixed, fixed_z, lr_scale):
    """All starts (or profile points) at once: one vmapped optimiser run."""
    TRACES["run"] += 1
    one = _lm_run if pb.optimiser == "lm" else _scalar_run
    starts = jnp.arange(z0.shape[0])
    return jax.vmap(one, in_axes=(0, None, None, 0, 0, None))(
        z0, pb, fixed, fixed_z, starts, lr_scale)


_run_jit = jax.jit(_run_batch)
_COMPILED: dict[Any, Any] = {}


def compiled(fn, *args) -> tuple[Any, float]:
    """An executable for `fn` at these argument shapes, compiled once per process;
    returns it and the seconds spent compiling now (0.0 when reused)."""
    leaves, tree = jax.tree.flatten(args)
    key = (fn, tree, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves))
    if key in _COMPILED:
        return _COMPILED[key], 0.0
    t0 = time.perf_counter()
    exe = fn.lower(*args).compile()
    _COMPILED[key] = exe
    return exe, time.perf_counter() - t0


def run_starts(z0, pb: Problem, fixed=None, fixed_z=None, lr_scale=1.0):
    """Run the optimiser from each row of `z0`: ((z, objective, converged, steps,
    Jacobian at the end w.r.t. stored values or NaN), seconds compiling)."""
    z0 = jnp.asarray(z0)
    fixed = jnp.zeros(z0.shape[1], bool) if fixed is None else jnp.asarray(fixed)
    fixed_z = z0 if fixed_z is None else jnp.asarray(fixed_z)
    args = (z0, pb, fixed, fixed_z, jnp.asarray(lr_scale, z0.dtype))
    exe, ctime = compiled(_run_jit, *args)
    out = exe(*args)
    return jax.tree.map(np.asarray, out), ctime


# --- problem set-up -----------------------------------------------------------------------


def _preset_stored(data: Data, name: str) -> float:
    return float(np.asarray(getattr(data.base, name))[0])


def default_bounds(name: str, stored: float) -> tuple[float, float]:
    """Preset x/÷ 10 (log params; odds x/÷ 10 for logit); [0, 10 x] for plain ones."""
    transform = _TRANSFORM[name]
    if transform in ("log", "logit"):
        return stored - math.log(_BOUND_FACTOR), stored + math.log(_BOUND_FACTOR)
    return 0.0, max(_BOUND_FACTOR * stored, 1e-3)


def _physical_to_stored(name: str, value: float, where: str) -> float:
    transform = _TRANSFORM.get(name, "log")
    if transform == "log" and not value > 0:
        raise ALSJaxError(f"{where}: {name} must be > 0, got {value:g}")
    if transform == "logit" and not 0 < value < 1:
        raise ALSJaxError(f"{where}: {name} must be in (0, 1), got {value:g}")
    if name not in _TRANSFORM:  # noise SDs (and anything else unnamed) are log-stored
        return math.log(value)
    return float(param_to_stored(name, value))


def make_problem(
    data: Data,
    estimate: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    noise: NoiseSpec = None,
    optimiser: str = DEFAULT_OPTIMISER,
    max_steps: int = 200,
    fit_shifts: bool = False,
    estimate_noise: bool = True,
) -> tuple[Problem, tuple[str, ...], Array]:
    """Validate the choices and build the Problem; returns it, the names of all estimated
    quantities (parameters, then `shift:<subject>`, then `sigma:<observable>`) and the
    preset (nominal) stored vector."""
    bounds, priors = dict(bounds or {}), dict(priors or {})
    if optimiser not in OPTIMISERS:
        raise ALSJaxError(f"unknown optimiser {optimiser!r}; choose from {', '.join(OPTIMISERS)}")
    models = noise_models(noise)
    if not estimate:
        raise ALSJaxError("estimate: name at least one parameter to estimate")
    for n in estimate:
        if n not in PARAMETER_NAMES:
            raise ALSJaxError(f"estimate: {_unknown_message(n)}")
    if len(set(estimate)) != len(estimate):
        raise ALSJaxError("estimate: a parameter is named twice")
    if int(max_steps) < 1:
        raise ALSJaxError(f"max_steps must be >= 1, got {max_steps}")
    # Noise SDs: one per observable that has rows without their own sigma.
    mask = np.asarray(data.mask)
    free = mask & np.isnan(np.asarray(data.sigma)) & ~np.asarray(data.summary) \
        & ~np.asarray(data.censored)
    obs = np.asarray(data.obs)
    noise_obs = tuple(k for k in range(len(OBSERVABLE_NAMES))
                      if estimate_noise and (free & (obs == k)).any())
    n_res = mask.size
    rows = np.zeros((n_res, len(OBSERVABLE_NAMES)), bool)
    for k in noise_obs:
        rows[:, k] = (free & (obs == k)).ravel()
    sd0 = np.asarray(default_noise_sd(models))
    names_all = list(estimate)
    nominal, lo, hi, pm, ps, hp = [], [], [], [], [], []
    for n in estimate:
        s = _preset_stored(data, n)
        nominal.append(s)
        if n in bounds:
            b = bounds.pop(n)
            l, h = (_physical_to_stored(n, float(v), f"bounds of {n}") for v in b)
            if not l < h:
                raise ALSJaxError(f"bounds of {n}: lower {b[0]:g} must be below upper {b[1]:g}")
        else:
            l, h = default_bounds(n, s)
        lo.append(l), hi.append(h)
        if n in priors:
            median, gsd = priors.pop(n)
            if not gsd > 1:
                raise ALSJaxError(f"prior of {n}: geometric SD must be > 1, got {gsd:g}")
            pm.append(_physical_to_stored(n, float(median), f"prior of {n}"))
            ps.append(math.log(float(gsd)) if _TRANSFORM[n] != "none" else float(gsd))
            hp.append(True)
        else:
            pm.append(0.0), ps.append(1.0), hp.append(False)
    if fit_shifts:
        for s in data.subjects:
            names_all.append(f"shift:{s}")
            nominal.append(0.0), lo.append(-_SHIFT_BOUND), hi.append(_SHIFT_BOUND)
            pm.append(0.0), ps.append(1.0), hp.append(False)
    for k in noise_obs:
        names_all.append(f"sigma:{OBSERVABLE_NAMES[k]}")
        s = math.log(sd0[k])
        nominal.append(s)
        lo.append(s - math.log(_NOISE_BOUND_FACTOR)), hi.append(s + math.log(_NOISE_BOUND_FACTOR))
        pm.append(0.0), ps.append(1.0), hp.append(False)
    for leftover, what in ((bounds, "bounds"), (priors, "priors")):
        for n in leftover:
            raise ALSJaxError(f"{what}: {n!r} is not among the estimated parameters "
                              f"({', '.join(estimate)})")
    # Names off the data so problems of the same shape share one compilation.
    anon = dataclasses.replace(data, subjects=tuple(str(i) for i in range(data.n_subjects)))
    f = jnp.result_type(float)
    pb = Problem(
        data=anon, lower=jnp.asarray(lo, f), upper=jnp.asarray(hi, f),
        prior_mean=jnp.asarray(pm, f), prior_sd=jnp.asarray(ps, f),
        has_prior=jnp.asarray(hp), noise_sd=jnp.asarray(sd0, f),
        noise_rows=jnp.asarray(rows), n_noise_rows=jnp.asarray(rows.sum(0), f),
        names=tuple(estimate), noise_obs=noise_obs, fit_shifts=bool(fit_shifts),
        noise=models, optimiser=optimiser, max_steps=int(max_steps),
    )
    return pb, tuple(names_all), jnp.asarray(nominal, f)


def sobol_starts(n: int, pb: Problem, seed: int) -> np.ndarray:
    """`n` scrambled-Sobol starts, uniform on the stored scale within the bounds (z)."""
    from scipy.stats import qmc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # balance needs n = 2^k; fine
        u = qmc.Sobol(pb.size, scramble=True, seed=seed).random(n)
    u = np.clip(u, 0.01, 0.99)
    return np.log(u) - np.log1p(-u)


# --- the result ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `fit` found. Physical values keyed by name; stored-scale values beside them.

    Names are the model's parameter names, `shift:<subject>` (days) for fitted time
    shifts and `sigma:<observable>` for estimated noise SDs (stored as log SD): an SD in
    the observable's unit for a Gaussian observable, a CV (SD of the log) for a
    log-normal one. `noise` maps each observable in the data to its noise model.
    """

    names: tuple[str, ...]
    transforms: tuple[str, ...]
    estimates: dict[str, float]
    std_errors: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    stored: dict[str, float]
    stored_std_errors: dict[str, float]
    nominal: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    objective: float
    start_objectives: np.ndarray
    start_converged: np.ndarray
    start_failed: np.ndarray
    start_steps: np.ndarray
    converged: bool
    params: Params  # batched over subjects
    noise_sd: np.ndarray  # per observable (order of OBSERVABLE_NAMES)
    time_shift: np.ndarray | None
    covariance: np.ndarray
    n_iter: int
    wall_time: float
    compile_time: float
    optimiser: str
    noise: dict[str, str]
    seed: int
    n_starts: int
    theta: np.ndarray
    data: Data  # as given (with subject names)
    problem: Problem  # subjects anonymised, so same-shaped problems share compilations

    @property
    def best_params(self) -> Params:
        """The fitted parameters of the first subject (unbatched)."""
        return jax.tree.map(lambda x: x[0], self.params)


def _noise_in_data(data: Data, models: tuple[str, ...]) -> dict[str, str]:
    """Noise model of each observable with measurement rows (order of OBSERVABLE_NAMES)."""
    present = set(np.asarray(data.obs)[np.asarray(data.mask)].tolist())
    return {k: m for i, (k, m) in enumerate(zip(OBSERVABLE_NAMES, models, strict=True))
            if i in present}


def _physical(name: str, transform: str, stored: float) -> float:
    if name.startswith("sigma:"):
        return math.exp(stored)
    if name.startswith("shift:"):
        return stored
    return float(to_physical(name, stored))


def transform_of(name: str) -> str:
    if name.startswith("sigma:"):
        return "log"
    if name.startswith("shift:"):
        return "none"
    return _TRANSFORM[name]


def fit(
    data: Data,
    estimate: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    noise: NoiseSpec = None,
    optimiser: str = DEFAULT_OPTIMISER,
    n_starts: int = 8,
    seed: int = 0,
    max_steps: int = 200,
    progress: bool = True,
    fit_shifts: bool = False,
    estimate_noise: bool = True,
    starts: np.ndarray | None = None,
) -> FitResult:
    """Fit `estimate` (parameter names) to `data` by multistart maximum likelihood.

    **Arguments:**
    - `data`: from `make_data`.
    - `estimate`: parameter names (`alsjax.PARAMETER_NAMES`); the rest stay at each
      subject's preset.
    - `bounds`: name -> (lower, upper) physical; default preset x/÷ 10.
    - `priors`: name -> (median, geometric SD): a log-normal prior (MAP fit).
    - `noise`: each observable's noise model (see `log_likelihood`): None for the
      defaults (NfL log-normal, the rest Gaussian), "gaussian" or "lognormal" for all, or
      a mapping observable -> model. Noise SDs (CVs for log-normal observables) of
      observables whose rows give no `sigma` are estimated unless `estimate_noise=False`.
    - `optimiser`: "lm" (Levenberg-Marquardt), "lbfgs" or "adam" (optax).
    - `n_starts`, `seed`: scrambled-Sobol starts within the bounds (or `starts`, z scale).
    - `max_steps`: per start (per noise round for LM).
    - `fit_shifts`: also estimate each subject's time shift (days).

    Starts whose solves fail are kept and flagged (`start_failed`); raises
    `ALSJaxError` only if every start fails. Standard errors and 95% intervals are
    Laplace (Fisher information at the optimum, see `alsjax.laplace`).
    """
    from ._uncertainty import laplace

    t_start = time.perf_counter()
    pb, names, nominal = make_problem(
        data, estimate, bounds=bounds, priors=priors, noise=noise, optimiser=optimiser,
        max_steps=max_steps, fit_shifts=fit_shifts, estimate_noise=estimate_noise)
    if starts is None:
        if int(n_starts) < 1:
            raise ALSJaxError(f"starts must be >= 1, got {n_starts}")
        z0 = sobol_starts(int(n_starts), pb, seed)
    else:
        z0 = np.asarray(starts, dtype=float)
    z0 = jnp.asarray(z0, jnp.result_type(float))
    with _progress_bar(progress, z0.shape[0], pb.max_steps * (
            _NOISE_ROUNDS if (pb.noise_obs and optimiser == "lm") else 1)):
        (z, values, conv, steps, jacs), ctime = run_starts(z0, pb)
    failed = ~np.isfinite(values) | (values >= 1e20)
    if failed.all():
        raise ALSJaxError(f"fit: all {len(values)} starts failed (the model could not be "
                          "solved); narrow the bounds or check the data")
    best = int(np.argmin(np.where(failed, np.inf, values)))
    z_best, v_best, c_best, jac = z[best], float(values[best]), bool(conv[best]), jacs[best]
    ctime2 = 0.0
    if not c_best:
        # Refine an unconverged best start: it continues (same compiled program, all rows
        # the best point; gentler steps for Adam).
        zr = np.repeat(z[best:best + 1], z0.shape[0], axis=0)
        (zr_out, vr, cr, sr, jr), ctime2 = run_starts(zr, pb, lr_scale=0.1)
        if np.isfinite(vr[0]) and vr[0] <= v_best:
            z_best, v_best, c_best, jac = zr_out[0], float(vr[0]), bool(cr[0]), jr[0]
            steps = steps.copy()
            steps[best] += sr[0]
    theta = np.asarray(to_stored(jnp.asarray(z_best), pb))
    cov, lap_ctime = laplace(theta, pb, jac if np.all(np.isfinite(jac)) else None)
    se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    params, sd, shift = unpack(jnp.asarray(theta), pb)
    tr = tuple(transform_of(n) for n in names)
    est, ses, lo, hi, stored, sse, nom, lb, ub = {}, {}, {}, {}, {}, {}, {}, {}, {}
    lower, upper = np.asarray(pb.lower), np.asarray(pb.upper)
    for i, n in enumerate(names):
        est[n] = _physical(n, tr[i], theta[i])
        stored[n], sse[n] = float(theta[i]), float(se[i])
        lo[n] = _physical(n, tr[i], theta[i] - 1.96 * se[i]) if np.isfinite(se[i]) else math.nan
        hi[n] = _physical(n, tr[i], theta[i] + 1.96 * se[i]) if np.isfinite(se[i]) else math.nan
        # Delta method: SE of the physical value.
        if tr[i] == "log":
            ses[n] = est[n] * se[i]
        elif tr[i] == "logit":
            ses[n] = est[n] * (1 - est[n]) * se[i]
        else:
            ses[n] = float(se[i])
        nom[n] = _physical(n, tr[i], float(nominal[i]))
        lb[n], ub[n] = _physical(n, tr[i], lower[i]), _physical(n, tr[i], upper[i])
    return FitResult(
        names=names, transforms=tr, estimates=est, std_errors=ses, ci_low=lo, ci_high=hi,
        stored=stored, stored_std_errors=sse, nominal=nom, lower=lb, upper=ub,
        objective=v_best, start_objectives=np.where(failed, np.inf, values),
        start_converged=conv & ~failed, start_failed=failed, start_steps=steps,
        converged=c_best, params=params, noise_sd=np.asarray(sd),
        time_shift=None if shift is None else np.asarray(shift), covariance=cov,
        n_iter=int(steps[best]), wall_time=time.perf_counter() - t_start,
        compile_time=ctime + ctime2 + lap_ctime, optimiser=optimiser,
        noise=_noise_in_data(data, pb.noise),
        seed=int(seed), n_starts=int(z0.shape[0]), theta=theta, data=data,
        problem=pb,
    )


class _progress_bar:
    """A rich progress bar fed by the compiled loop through `jax.debug.callback`."""

    def __init__(self, enabled: bool, n_starts: int, steps: int):
        self.enabled, self.n, self.steps = enabled, n_starts, steps

    def __enter__(self):
        if not self.enabled:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(TextColumn("fitting: {task.description}"), BarColumn(),
                            MofNCompleteColumn(), transient=True)
        self.task = self.bar.add_task(f"{self.n} starts", total=self.n * self.steps)
        self.bar.start()
        self.counts = np.zeros(self.n, int)

        def cb(start, n):
            self.counts[start % self.n] = min(self.counts[start % self.n] + 1, self.steps)
            self.bar.update(self.task, completed=int(self.counts.sum()))

        _PROGRESS[0] = cb
        return self

    def __exit__(self, *exc):
        _PROGRESS[0] = None
        if self.enabled:
            self.bar.update(self.task, completed=self.n * self.steps)
            self.bar.stop()
        return False
