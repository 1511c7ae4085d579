"""The likelihood of time-course data under the cascade: `log_likelihood`, `residuals`.

The data are a `Data` (`make_data`), padded arrays with one row per subject, so a cohort
is one batched solve (`solve_cohort`) and one compilation. The log-likelihood is pure: it
jits, vmaps and differentiates, and a failed solve gives `-inf` (with a finite, zero
gradient), never an exception.

**Noise.** Each observable k has its own noise model (`_noise.py`: gaussian or lognormal).
Row i's noise SD s_i is the row's `sigma` when given (converted to the log scale as
sigma / value for lognormal), else the observable's noise SD `sigma[k]`. Arm-summary rows use their
`sigma` as a standard error of the mean, on the linear scale, whatever the noise model.
A value below the row's `lloq` contributes log P(y < lloq) (a Gaussian CDF, on the log
scale for a lognormal observable).

**Events.** The model's event day T (`Solution.events`, model time) is compared with the
observed day t by a log-normal: log t ~ N(log T, s^2) for an observed event, and
log P(event after t) = log Phi((log T - log t) / s) for one censored at t, with s the
row's `sigma` or EVENT_SD. An arm's event summaries (a survival curve: the fraction of n
subjects with the event by each day) are one course for the whole arm: its subjects'
event days are log-normal about the course's, on the data clock (days since the data's
origin), with SD the row's `sigma` or the parameter `arm_event_spread` (preset
ARM_EVENT_SD), and each point is a binomial step
from the previous one (`_arm_curve_terms`). Censoring before a point is ignored.
An observed event's density has the Jacobian term log t, and t = data day + shift moves
with the parameters wherever the shift does (onset alignment, fitted shifts): that part
of the normaliser is carried as a residual (`_log_day_residual`), so least squares
(Levenberg-Marquardt, the population's inner problem) sees its gradient.

**Alignment.** Each subject's data day t is model day t + shift. Cascade-aligned subjects
(and all mice, whose clock is age) have shift 0; onset-aligned subjects have shift = the
model's own predicted onset day, so day 0 of the data is symptom onset. `time_shift` adds
a per-subject offset (days) on top, which `fit(..., fit_shifts=True)` estimates.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, log_ndtr, xlogy
from jaxtyping import Array, ArrayLike, Float

from ._cohort import CohortSolution, solve_cohort
from ._dataset import Data, unlabelled
from ._noise import NoiseSpec, default_noise_sd, log_normaliser, noise_models, own_sd, standardised
from ._observables import EVENT_NAMES
from ._params import Params
from ._simulate import DEFAULT_ATOL, DEFAULT_RTOL
from ._therapy import Therapy

EVENT_SD = 0.1
"""SD of log event time of one subject around its course's prediction (about 10%)."""

LOG_DAY_OFFSET = 16.0
"""Added to log(t / data day) >= 0 before its square root in `_log_day_residual`: the
residual's gradient is exact whatever the offset, and the curvature it adds to a
Gauss-Newton Hessian, |d log t|^2 / (2 (log ratio + offset)), is negligible; at offset 0
it would blow up where the ratio is near 1."""

ARM_EVENT_SD = 0.7
"""The presets' `arm_event_spread`: SD of log event time between the subjects of an arm
summarised by one course (a guess: the model's own spread of survival over the plausible
ranges, p10-p90 of 11.6-72.8 months about a median of 25, is 0.60-0.83 on this scale;
docs/model.md, *Heterogeneity*). A fit may estimate it."""

_FAILED_RESIDUAL = 1e3  # per residual, when a solve fails: worse than any sane fit


def broadcast_params(params: Params, n: int) -> Params:
    """A single Params repeated for `n` subjects; batched Params pass through."""
    if jnp.ndim(params.time_scale) == 0:
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), params)
    return params


def predict(params: Params, data: Data, shift: Array, *, method: str = "auto",
            adjoint=None, tolerances: tuple[float, float] = (DEFAULT_RTOL, DEFAULT_ATOL),
            ) -> CohortSolution:
    """Model predictions at every data slot: observables `(S, T+1, K)`, event days (model
    clock) `(S, E)` and success `(S,)`. The one place a dataset's cohort is simulated.

    Slot T (the extra last one) is a horizon that leaves room for events to happen.
    """
    model_t = data.times + shift[:, None]
    last = jnp.max(model_t, axis=1)
    if data.any_events:
        ev_last = jnp.max(jnp.where(data.event_mask, data.event_time, 0.0), axis=1) + shift
        horizon = 2.0 * jnp.maximum(last, ev_last) + 30.0
        # An arm's curve also learns from courses whose event lies well past its last
        # point (a fraction of 0.1 by then), so look further on the data clock.
        arm_last = jnp.max(jnp.where(data.event_summary, data.event_time, 0.0), axis=1)
        horizon = jnp.maximum(horizon, shift + 5.0 * arm_last + 30.0)
    else:
        horizon = last
    ts = jnp.concatenate([model_t, horizon[:, None]], axis=1)
    therapy = Therapy(on=data.therapy.on, start=data.therapy.start + shift[:, None])
    rtol, atol = tolerances
    return solve_cohort(params, ts, therapy, method=method, adjoint=adjoint, rtol=rtol,
                        atol=atol)


def _model_onset(params: Params, data: Data, method: str, adjoint, tolerances) -> Array:
    """Each onset-aligned subject's model onset day (0 for the others, or if none)."""
    ts = jnp.stack([jnp.zeros_like(data.onset_horizon), data.onset_horizon], axis=1)
    therapy = Therapy(on=jnp.zeros_like(data.therapy.on), start=data.therapy.start)
    rtol, atol = tolerances
    sol = solve_cohort(params, ts, therapy, method=method, adjoint=adjoint, rtol=rtol,
                       atol=atol)
    onset = sol.events[:, EVENT_NAMES.index("onset")]
    good = sol.success & jnp.isfinite(onset) & data.onset_aligned
    return jnp.where(good, onset, 0.0)


def shifts(params: Params, data: Data, time_shift=None, *, method: str = "auto",
           adjoint=None, tolerances: tuple[float, float] = (DEFAULT_RTOL, DEFAULT_ATOL),
           ) -> Array:
    """Model day of each subject's data day 0 (see the module docstring)."""
    params = broadcast_params(params, data.n_subjects)
    offset = jnp.zeros(data.n_subjects) if time_shift is None else jnp.asarray(time_shift)
    if data.any_onset:
        # A subject whose model never has onset is placed at its horizon; the fit then
        # sees a poor (finite) match instead of a failure.
        base = _model_onset(params, data, method, adjoint, tolerances)
        base = jnp.where(data.onset_aligned & (base == 0.0), data.onset_horizon, base)
        return jnp.maximum(base + offset, 0.0)
    return jnp.maximum(offset, 0.0)


def _log1p(u, log_one_plus_u):
    """log(1 + u): `log1p` near 0, where it is accurate; the given equal value elsewhere."""
    near = u > -0.5
    return jnp.where(near, jnp.log1p(jnp.where(near, u, 0.0)), log_one_plus_u)


def _safe_sqrt(x):
    ok = x > 0
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, x, 1.0)), 0.0)


def likelihood_terms(params, data, *, noise=None, sigma=None, time_shift=None, adjoint=None,
                     method="auto", tolerances=(DEFAULT_RTOL, DEFAULT_ATOL),
                     ) -> tuple[Array, Array, Array]:
    """Residual vector r (-loglik = r.r/2 + normaliser), the normaliser, and success.

    The arguments are checked here and the terms computed by one jitted program, so a
    call outside `jax.jit` (a notebook's `log_likelihood(...)`) compiles once instead of
    operation by operation (30 s against 10 s on the shipped 40-subject cohort)."""
    models = noise_models(noise)
    sd_k = default_noise_sd(models) if sigma is None else jnp.asarray(sigma)
    if time_shift is not None:
        time_shift = jnp.asarray(time_shift)
    tolerances = tuple(float(x) for x in tolerances)
    return _likelihood_terms(params, _unnamed(data), sd_k, time_shift, models, adjoint,
                             method, tolerances)


def _unnamed(data: Data) -> Data:
    """`data` with blank subject names (`unlabelled`), so that a cohort of the same shapes
    under other names reuses the compiled program."""
    return unlabelled(data, ("",) * data.n_subjects)


@eqx.filter_jit  # not jax.jit: an adjoint may hold unhashable fields (BacksolveAdjoint)
def _likelihood_terms(params, data, sd_k, time_shift, models, adjoint, method, tolerances):
    params = broadcast_params(params, data.n_subjects)
    shift = shifts(params, data, time_shift, method=method, adjoint=adjoint,
                   tolerances=tolerances)
    sol = predict(params, data, shift, method=method, adjoint=adjoint, tolerances=tolerances)
    return _terms_of(params, data, sd_k, shift, sol, models)


def likelihood_terms_of_sets(params, data, *, noise=None, sigma, time_shift=None,
                             adjoint=None, tolerances=(DEFAULT_RTOL, DEFAULT_ATOL),
                             ) -> tuple[Array, Array, Array]:
    """`likelihood_terms` of G parameter sets on one dataset: `params` batched (G, S),
    `sigma` (G, K), `time_shift` (G, S) or None; residuals (G, n), normalisers and
    successes (G,). The G x S solves are one cohort solved by `jax.vmap` (whatever its
    size), not a batch over G of a batch over S: JAX batches the solver's loops once
    instead of twice (a multistart fit's program traces and compiles about a second
    faster, `_optimise._lm_step_starts`)."""
    models = noise_models(noise)
    tolerances = tuple(float(x) for x in tolerances)
    G, S = sigma.shape[0], data.n_subjects
    data = _unnamed(data)
    flat = jax.tree.map(lambda x: x.reshape(G * S, *x.shape[2:]), params)
    cohort = unlabelled(jax.tree.map(lambda x: jnp.concatenate([x] * G), data),
                        ("",) * (G * S))
    if time_shift is not None:
        time_shift = time_shift.reshape(G * S)
    shift = shifts(flat, cohort, time_shift, method="vmap", adjoint=adjoint,
                   tolerances=tolerances)
    sol = predict(flat, cohort, shift, method="vmap", adjoint=adjoint, tolerances=tolerances)
    by_set = jax.tree.map(lambda x: x.reshape(G, S, *x.shape[1:]), (shift, sol))
    return jax.vmap(_terms_of, in_axes=(0, None, 0, 0, 0, None))(
        params, data, sigma, *by_set, models)


def _terms_of(params, data, sd_k, shift, sol, models):
    """Residuals, normaliser and success of one parameter set from its solution."""
    all_ok = jnp.all(sol.success)
    # Double where: failed solves are NaN; replace them before any arithmetic.
    pred = jnp.where(all_ok, sol.observables, 1.0)
    events = jnp.where(all_ok, sol.events, 1.0)
    f = jnp.take_along_axis(pred[:, :-1, :], data.obs[..., None], axis=-1)[..., 0]
    y = data.values
    # Rows of lognormal observables (arm summaries stay linear): a constant per-observable
    # flag indexed by each row's observable, so one program serves any data.
    is_log = jnp.asarray(np.asarray([m == "lognormal" for m in models]))
    log_scale = is_log[data.obs] & ~data.summary
    sd = jnp.where(jnp.isnan(data.sigma), sd_k[data.obs], own_sd(y, data.sigma, log_scale))
    r = standardised(y, f, sd, log_scale)
    cens = data.censored & data.mask
    # Double where: lloq is NaN on rows without one, and 0 x NaN would poison the
    # reverse-mode gradient of sd through the unused branch.
    lloq = jnp.where(cens, data.lloq, y)
    lim = jnp.where(cens, standardised(lloq, f, sd, log_scale), 0.0)
    r_cens = _safe_sqrt(-2.0 * log_ndtr(lim))
    meas = jnp.where(data.mask, jnp.where(cens, r_cens, r), 0.0)
    norm = jnp.sum(jnp.where(data.mask & ~cens, log_normaliser(y, sd, log_scale), 0.0))
    if data.any_events:
        T = jnp.take_along_axis(events, data.event_type, axis=1)
        T = jnp.where(jnp.isfinite(T), T, jnp.maximum(2.0 * jnp.max(data.event_time
                                                                      + shift[:, None]), 1.0))
        arm = data.event_summary
        spread = jnp.exp(params.arm_event_spread)[:, None]  # stored as its log
        sd_ev = jnp.where(jnp.isnan(data.event_sigma), jnp.where(arm, spread, EVENT_SD),
                          data.event_sigma)
        t_obs = jnp.maximum(data.event_time + shift[:, None], 1e-6)
        z = (jnp.log(t_obs) - jnp.log(jnp.maximum(T, 1e-6))) / sd_ev
        single = jnp.where(data.event_observed, z, _safe_sqrt(-2.0 * log_ndtr(-z)))
        curve, curve_norm = _arm_curve_terms(T - shift[:, None], sd_ev, data)
        ev = jnp.where(data.event_mask, jnp.where(arm, curve, single), 0.0)
        observed = data.event_mask & data.event_observed & ~arm
        t_day = jnp.maximum(data.event_time, 1e-6)
        log_day = _log_day_residual(t_obs, t_day)
        norm = norm + jnp.sum(jnp.where(observed, jnp.log(sd_ev) + 0.5 * math.log(2 * math.pi)
                                        + jnp.log(t_day) - LOG_DAY_OFFSET, 0.0))
        norm = norm + jnp.sum(jnp.where(data.event_mask & arm, curve_norm, 0.0))
        res = jnp.concatenate([meas.ravel(), ev.ravel(),
                               jnp.where(observed, log_day, 0.0).ravel()])
    else:
        res = meas.ravel()
    return res, norm, all_ok


def _log_day_residual(t_obs: Array, t_day: Array) -> Array:
    """rho with rho^2 / 2 = log t_obs - log t_day + LOG_DAY_OFFSET: the part of an observed
    event's log-normal normaliser that moves with the shift (t_obs = t_day + shift >=
    t_day), as a residual."""
    return jnp.sqrt(2.0 * (jnp.log(t_obs) - jnp.log(t_day) + LOG_DAY_OFFSET))


def _arm_curve_terms(T_data: Array, sd: Array, data: Data) -> tuple[Array, Array]:
    """Signed deviance residuals (and the model-free rest of -log L) of arm summaries.

    An arm's event days are log-normal about its course's day `T_data` (data clock), so
    S(t) = Phi((log T_data - log t) / sd) of its subjects are event-free at day t. Each
    point is a binomial step: of `event_at_risk` event-free at `event_since`, a share
    q = 1 - S(t) / S(since) has the event by t, and `event_count` did. Its deviance D
    gives -log L = D / 2 + (terms free of the model), and r = sign(q_hat - q) sqrt(D) is
    smooth through the optimum, as least squares needs.
    """
    T = jnp.maximum(T_data, 1e-6)

    def log_survival(t):
        return log_ndtr((jnp.log(T) - jnp.log(jnp.maximum(t, 1e-6))) / sd)

    since = data.event_since
    log_step = log_survival(data.event_time) - jnp.where(since > 0, log_survival(since), 0.0)
    log_step = jnp.minimum(log_step, 0.0)
    # q = 1 - exp(log_step), floored so that an arm with events where the model has none
    # still has a finite (large) residual.
    q = jnp.maximum(-jnp.expm1(log_step), 1e-300)
    n, d = data.event_at_risk, data.event_count
    live = data.event_summary & (n > 0)
    n = jnp.where(live, n, 1.0)
    d = jnp.where(live, d, 0.0)
    q_hat = d / n
    # D = 2 n KL(q_hat || q), written as sums of phi(u) = u - log(1 + u) >= 0 (the terms
    # u add to zero), which keeps its relative accuracy as q -> q_hat; log(1 + u) comes
    # from the logs themselves far from there, where 1 + u may underflow.
    delta = q - q_hat
    # The share with the event: q_hat phi(q / q_hat - 1) (q itself when q_hat = 0).
    some = q_hat > 0
    had = jnp.where(some, q_hat, 1.0)
    u1 = delta / had
    t1 = jnp.where(some, had * (u1 - _log1p(u1, jnp.log(q) - jnp.log(had))), q)
    # The share without: (1 - q_hat) phi((1 - q) / (1 - q_hat) - 1) (1 - q when q_hat = 1).
    most = q_hat < 1
    had_not = jnp.where(most, 1.0 - q_hat, 1.0)
    u2 = -delta / had_not
    t2 = jnp.where(most, had_not * (u2 - _log1p(u2, log_step - jnp.log(had_not))),
                   jnp.exp(log_step))
    dev = 2.0 * n * jnp.maximum(t1 + t2, 0.0)
    r = jnp.where(q_hat >= q, 1.0, -1.0) * _safe_sqrt(dev)
    saturated = xlogy(d, q_hat) + xlogy(n - d, 1.0 - q_hat)
    log_choose = gammaln(n + 1.0) - gammaln(d + 1.0) - gammaln(n - d + 1.0)
    return jnp.where(live, r, 0.0), jnp.where(live, -log_choose - saturated, 0.0)


def residuals(
    params: Params,
    data: Data,
    *,
    noise: NoiseSpec = None,
    sigma: Float[ArrayLike, " K"] | None = None,
    time_shift: Float[ArrayLike, " S"] | None = None,
    adjoint=None,
    method: str = "auto",
    tolerances: tuple[float, float] = (DEFAULT_RTOL, DEFAULT_ATOL),
) -> Float[Array, " n"]:
    """Weighted residuals r with -log_likelihood = |r|^2 / 2 + (terms free of the model).

    Censored rows contribute sqrt(-2 log P), so the same identity holds. A failed solve
    gives a large finite residual everywhere (least-squares solvers then step back).
    Pass `adjoint=diffrax.ForwardMode()` to take the Jacobian with `jax.jacfwd`.
    """
    res, _, ok = likelihood_terms(params, data, noise=noise, sigma=sigma,
                                  time_shift=time_shift, adjoint=adjoint, method=method,
                                  tolerances=tolerances)
    return jnp.where(ok, res, _FAILED_RESIDUAL)


def log_likelihood(
    params: Params,
    data: Data,
    *,
    noise: NoiseSpec = None,
    sigma: Float[ArrayLike, " K"] | None = None,
    time_shift: Float[ArrayLike, " S"] | None = None,
    adjoint=None,
    method: str = "auto",
    tolerances: tuple[float, float] = (DEFAULT_RTOL, DEFAULT_ATOL),
) -> Float[Array, ""]:
    """Log-likelihood of `data` under `params` (see the module docstring for the terms).

    **Arguments:**
    - `params`: one Params for every subject, or Params batched over subjects (S,).
      When the data mix genotypes, pass `data.base` with changes (`fit` does).
    - `data`: from `make_data`.
    - `noise`: each observable's noise model: None (`DEFAULT_NOISE_MODEL`: NfL
      log-normal, the rest Gaussian), "gaussian" or "lognormal" for all, or a mapping
      such as `{"nfl": "lognormal"}` (observables not named keep their default). It
      selects the program, like a static argument; `noise_models` gives its hashable form.
    - `sigma`: noise SD per observable (order of `OBSERVABLE_NAMES`): an SD for Gaussian
      observables, a CV (SD of the log) for log-normal ones; default `default_noise_sd`.
      Rows with their own `sigma` use it instead.
    - `time_shift`: per-subject offset (days) added to each subject's alignment.
    - `method`: how the cohort is solved (`solve_cohort`): "auto", "vmap" or "lanes".
    - `tolerances`: (rtol, atol) of the solver's step-size controller.

    Pure and jittable; `-inf` (zero gradient) when any solve fails.
    """
    res, norm, ok = likelihood_terms(params, data, noise=noise, sigma=sigma,
                                     time_shift=time_shift, adjoint=adjoint, method=method,
                                     tolerances=tolerances)
    ll = -0.5 * jnp.sum(res**2) - norm
    return jnp.where(ok & jnp.isfinite(ll), ll, -jnp.inf)


def predictions(params: Params, data: Data, *, time_shift=None,
                method: str = "auto") -> tuple[Array, Array, Array]:
    """Predicted value at every measurement slot (S, T), event day on the data clock at
    every event slot (S, E), and each subject's shift (S,). One jitted program, as
    `likelihood_terms`."""
    if time_shift is not None:
        time_shift = jnp.asarray(time_shift)
    return _predictions(params, _unnamed(data), time_shift, method)


@eqx.filter_jit
def _predictions(params, data, time_shift, method):
    params = broadcast_params(params, data.n_subjects)
    shift = shifts(params, data, time_shift, method=method)
    sol = predict(params, data, shift, method=method)
    f = jnp.take_along_axis(sol.observables[:, :-1, :], data.obs[..., None], axis=-1)[..., 0]
    T = jnp.take_along_axis(sol.events, data.event_type, axis=1) - shift[:, None]
    return f, T, shift
